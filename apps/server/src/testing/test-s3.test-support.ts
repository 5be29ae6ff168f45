import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * The server's tests reach the shared test S3 server (radosgw, `scripts/radosgw.sh`) the way
 * `@cairn/s3`'s own tests do (`packages/s3/src/testing/radosgw.test-support.ts`, which that package
 * does not export): through its `connection.json`.
 */
export interface TestS3Connection {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly kmsKeyId: string;
}

const connectionFile = process.env['CAIRN_RADOSGW_DIR']
  ? `${process.env['CAIRN_RADOSGW_DIR']}/connection.json`
  : fileURLToPath(new URL('../../../../.tools/radosgw/connection.json', import.meta.url));

export function testS3Connection(): TestS3Connection {
  if (!existsSync(connectionFile))
    throw new Error(`No test S3 server: ${connectionFile} is missing. Start one with \`bash scripts/radosgw.sh start\` (the README's test command does).`);
  return JSON.parse(readFileSync(connectionFile, 'utf8')) as TestS3Connection;
}

/** The credentials as a spawned server gets them: the AWS SDK's environment variables. */
export function testS3Environment(): Record<string, string> {
  const connection = testS3Connection();
  return { AWS_ACCESS_KEY_ID: connection.accessKeyId, AWS_SECRET_ACCESS_KEY: connection.secretAccessKey, AWS_REGION: connection.region };
}

export function testS3Client(overrides: S3ClientConfig = {}): S3Client {
  const connection = testS3Connection();
  return new S3Client({
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: true,
    credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
    ...overrides,
  });
}

/** A fresh bucket for one test (`objectLock`: created with Object Lock, hence versioned). */
export async function createTestS3Bucket(client: S3Client, options: { readonly objectLock?: boolean } = {}): Promise<string> {
  const bucket = `cairn-server-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket, ...(options.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }));
  return bucket;
}
