// Test support for S3 seams, published so integrators can test theirs the way Cairn tests its own:
// a seeded fault-injecting proxy, and helpers to reach a test S3 server (Cairn's tests use Ceph's
// radosgw, started by `scripts/radosgw.sh`).
export { createTestBucket, deleteTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from './radosgw-connection.ts';
export type { RadosgwConnection } from './radosgw-connection.ts';
export { startS3FaultProxy } from './s3-fault-proxy.ts';
export type { S3Fault, S3FaultProxy, S3FaultProxyOptions } from './s3-fault-proxy.ts';
