import { definePackageTests } from '../../vitest.shared.ts';

// Pods run through the real `@kubernetes/client-node` against a Kubernetes API endpoint on
// loopback, which runs each pod's containers from the worker's stand-in root filesystem under
// bubblewrap: the global setup bundles `cairn-worker.js` into it, as the Fargate tests do. The
// executor's storage is the real test S3 server (radosgw), its secrets sealed through a KMS
// endpoint on loopback; the test process's own AWS clients take these test credentials.
export default definePackageTests({
  globalSetup: ['../s3/src/testing/radosgw.global-setup.ts', '../fargate/src/testing/worker-bundle.test-support.ts'],
  env: { AWS_ACCESS_KEY_ID: 'AKIDCAIRNTEST', AWS_SECRET_ACCESS_KEY: 'cairn-test-secret', AWS_REGION: 'us-east-1' },
  testTimeout: 60_000,
});
