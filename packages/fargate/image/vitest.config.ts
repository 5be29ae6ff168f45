import { definePackageTests } from '../../../vitest.shared.ts';

// The image is built once before the tests (a no-op when its inputs did not change); its tests
// run the unpacked root filesystem under bubblewrap and read the OCI layout with skopeo.
export default definePackageTests({
  name: 'worker-image',
  include: ['*.test.ts'],
  globalSetup: ['./worker-image.global-setup.ts'],
  testTimeout: 60_000,
});
