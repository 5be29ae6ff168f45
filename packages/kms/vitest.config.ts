import { definePackageTests } from '../../vitest.shared.ts';

// The tests reach KMS through the real SDK client and a KMS endpoint each test starts on loopback.
// Seams built from settings take credentials from the SDK's default chain: these test ones (the
// endpoint checks that requests are signed, not by whom).
export default definePackageTests({
  env: { AWS_ACCESS_KEY_ID: 'AKIDCAIRNTEST', AWS_SECRET_ACCESS_KEY: 'cairn-test-secret', AWS_REGION: 'us-east-1' },
});
