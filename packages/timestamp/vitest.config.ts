import { definePackageTests } from '../../vitest.shared.ts';

// The tests ask a real RFC 3161 implementation (OpenSSL's `ts -reply`) behind an HTTP handler on
// loopback, started by each test file.
export default definePackageTests({});
