// The fault proxy the S3 resilience test stands on: requests pass through unchanged (signatures
// hold), and the faults it injects are real failures a client sees.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, test } from 'vitest';
import { startS3FaultProxy } from './s3-fault-proxy.test-support.ts';
import { createTestS3Bucket, testS3Client, testS3Connection } from './test-s3.test-support.ts';

test('requests pass through signed and whole; at rate 1 every request meets a fault, seeded', async () => {
  const direct = testS3Client();
  const bucket = await createTestS3Bucket(direct);
  const proxy = await startS3FaultProxy({ upstream: testS3Connection().endpoint, faultRate: 0, seed: 7 });
  try {
    const through = testS3Client({ endpoint: proxy.endpoint, maxAttempts: 1 });
    await through.send(new PutObjectCommand({ Bucket: bucket, Key: 'k', Body: 'through the proxy' }));
    const read = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' }));
    expect(await read.Body!.transformToString()).toBe('through the proxy');
    expect(proxy.counts.passed).toBe(1);

    proxy.setFaultRate(1);
    const failures = [];
    for (let index = 0; index < 12; index += 1)
      failures.push(
        await through.send(new GetObjectCommand({ Bucket: bucket, Key: 'k' })).then(
          () => 'ok',
          (error: { name?: string; $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode ?? error.name,
        ),
      );
    expect(failures).not.toContain('ok');
    expect(proxy.counts['error-500'] + proxy.counts['error-503'] + proxy.counts['reset-before'] + proxy.counts['reset-after']).toBe(12);
    expect(failures.filter((failure) => failure === 500 || failure === 503).length).toBe(proxy.counts['error-500'] + proxy.counts['error-503']);
  } finally {
    await proxy.close();
  }
});
