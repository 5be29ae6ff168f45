import { definePackageTests } from '../../vitest.shared.ts';

// The S3 tests (e2e, fault proxy, doctor) run against the real test S3 server (radosgw), which the
// global setup makes sure answers, as @cairn/s3's own tests do; the PostgreSQL replicas' tests against
// the real test PostgreSQL, as @cairn/engine's store tests do. The Fargate tests run the
// cairn-worker bundled from the current sources (the fargate composition's stand-in root
// filesystem) and the real worker image built from that bundle (the end to end): both global
// setups of @cairn/fargate, in that order (the image is built from the bundle; a no-op in seconds
// when neither changed). The doctor's PostgreSQL findings run against the real test PostgreSQL,
// which @cairn/engine's global setup makes sure answers. The local executions' supervisors start
// from one bundle of the current sources, made once per test run (@cairn/local's global setup).
export default definePackageTests({
  globalSetup: [
    '../../packages/s3/src/testing/radosgw.global-setup.ts',
    '../../packages/engine/src/store/postgres/postgres.global-setup.ts',
    '../../packages/fargate/src/testing/worker-bundle.test-support.ts',
    '../../packages/fargate/image/worker-image.global-setup.ts',
    '../../packages/local/src/testing/supervisor-bundle.test-support.ts',
  ],
});
