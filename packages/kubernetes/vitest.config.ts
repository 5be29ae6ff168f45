import { definePackageTests } from '../../vitest.shared.ts';

// Pods run through the real `@kubernetes/client-node` against a Kubernetes API endpoint on
// loopback, which runs each pod's containers from the worker's stand-in root filesystem under
// bubblewrap: the global setup bundles `cairn-worker.js` into it, as the Fargate tests do.
export default definePackageTests({
  globalSetup: ['../fargate/src/testing/worker-bundle.test-support.ts'],
  testTimeout: 60_000,
});
