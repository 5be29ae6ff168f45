import { definePackageTests } from '../../vitest.shared.ts';

// Every test here runs against a real S3 server (radosgw), started once per test run.
export default definePackageTests({ globalSetup: ['src/testing/radosgw.global-setup.ts'] });
