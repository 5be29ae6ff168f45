import { afterAll, describe, expect, test, vi } from 'vitest';
import { createTestBucket, deleteTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '../testing/radosgw-connection.ts';
import { createS3StorageProvider } from '../storage/s3-storage-provider.ts';
import { s3SdkLogger } from './s3-sdk-logger.ts';

// The clients Cairn builds get a logger without `info` and `error`, so the SDK builds no log
// record per request. What must hold: every answer still reaches the caller as before, through
// the SDK's success path (info) and its failure path (error: a 404, a 412), against radosgw.
const admin = radosgwClient();
const buckets: string[] = [];
afterAll(async () => {
  for (const bucket of buckets) await deleteTestBucket(admin, bucket);
  admin.destroy();
});

describe('the S3 clients Cairn builds', () => {
  test('carry a logger without info and error, whose debug and warn can be called', () => {
    const storage = createS3StorageProvider({ bucket: 'cairn-logger-test', endpoint: radosgwConnection().endpoint, region: 'us-east-1', forcePathStyle: true });
    const logger = storage.client.config.logger as unknown as Record<string, unknown>;
    expect(logger).toBe(s3SdkLogger);
    expect(logger['info']).toBeUndefined();
    expect(logger['error']).toBeUndefined();
    expect(() => {
      s3SdkLogger.debug('a line');
      s3SdkLogger.warn('a line');
    }).not.toThrow();
  });

  test('answer a put, a get, a missing key and a refused if-absent put as before', async () => {
    for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
    try {
      const bucket = await createTestBucket(admin);
      buckets.push(bucket);
      const { endpoint, region } = radosgwConnection();
      const storage = createS3StorageProvider({ bucket, prefix: 'cairn', endpoint, region, forcePathStyle: true });
      const bytes = new TextEncoder().encode('{"a":1}');
      expect(await storage.put('results/one.json', bytes, { ifAbsent: true, contentType: 'application/json' })).toEqual({ written: true });
      expect(await storage.put('results/one.json', new TextEncoder().encode('{"a":2}'), { ifAbsent: true })).toEqual({ written: false });
      expect(await storage.get('results/one.json')).toEqual(bytes);
      expect(await storage.get('results/missing.json')).toBeNull();
      expect(await storage.head('results/missing.json')).toBeNull();
      storage.client.destroy();
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
