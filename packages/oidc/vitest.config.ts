import { definePackageTests } from '../../vitest.shared.ts';

// The tests ask a real OpenID provider (oidc-provider, certified) listening on loopback, started
// once per test file.
export default definePackageTests({});
