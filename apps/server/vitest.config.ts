import { definePackageTests } from '../../vitest.shared.ts';

// The S3 tests (e2e, fault proxy, doctor) run against the real test S3 server (radosgw), which the
// global setup makes sure answers, as @cairn/s3's own tests do.
export default definePackageTests({ globalSetup: ['../../packages/s3/src/testing/radosgw.global-setup.ts'] });
