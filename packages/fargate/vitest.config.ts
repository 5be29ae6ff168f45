import { definePackageTests } from '../../vitest.shared.ts';

// Tasks run through the real ECS SDK client against an ECS endpoint on loopback, which starts each
// task's entrypoint under bubblewrap; their storage is the real test S3 server (radosgw), their
// secrets go through a KMS endpoint on loopback. The executor and test clients take credentials
// from the SDK's default chain: these test ones (the endpoints check that requests are signed).
export default definePackageTests({
  globalSetup: ['../s3/src/testing/radosgw.global-setup.ts', 'src/testing/worker-bundle.test-support.ts'],
  env: { AWS_ACCESS_KEY_ID: 'AKIDCAIRNTEST', AWS_SECRET_ACCESS_KEY: 'cairn-test-secret', AWS_REGION: 'us-east-1' },
  testTimeout: 60_000,
});
