import { definePackageTests } from '../../../vitest.shared.ts';

// The image is built once before the tests (a no-op when its inputs did not change); its tests
// run the unpacked root filesystem under bubblewrap and read the OCI layout with skopeo. It holds
// the worker bundled from the current sources, as in every other project that runs the image
// (the same two global setups, in that order): one image serves them all, built once per run.
export default definePackageTests({
  // Named to sort among the packages: vitest runs projects in name order, and a project named last ran
  // its minute-long image test alone at the end of the test command.
  name: '@cairn/fargate-image',
  include: ['*.test.ts'],
  globalSetup: ['../src/testing/worker-bundle.test-support.ts', './worker-image.global-setup.ts'],
  testTimeout: 60_000,
});
