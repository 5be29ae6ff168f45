import { definePackageTests } from '../../vitest.shared.ts';

// The tests push to a real git server on loopback: `git http-backend` behind a Node HTTP server with
// basic auth, started once by each test file.
export default definePackageTests({});
