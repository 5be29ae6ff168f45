import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * How tests reach a test S3 server: the `connection.json` that Cairn's `scripts/radosgw.sh` writes
 * for the one-node Ceph radosgw it starts, found in `$CAIRN_RADOSGW_DIR` (or the checkout's
 * `.tools/radosgw`). Another S3-compatible test server works the same with a file of this shape.
 */
export interface RadosgwConnection {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The SSE-KMS key radosgw's `testing` KMS backend holds. */
  readonly kmsKeyId: string;
}

const connectionFile = process.env['CAIRN_RADOSGW_DIR']
  ? `${process.env['CAIRN_RADOSGW_DIR']}/connection.json`
  : fileURLToPath(new URL('../../../../.tools/radosgw/connection.json', import.meta.url));

/** The running test server's connection; a missing one fails the test, naming the script to run. */
export function radosgwConnection(): RadosgwConnection {
  if (!existsSync(connectionFile))
    throw new Error(`No test S3 server: ${connectionFile} is missing. Start one with \`bash scripts/radosgw.sh start\` (the README's test command does).`);
  return JSON.parse(readFileSync(connectionFile, 'utf8')) as RadosgwConnection;
}

/** The credentials as a spawned process (a `cairn serve` under test) finds them: the AWS SDK's environment variables. */
export function radosgwEnvironment(): Record<string, string> {
  const connection = radosgwConnection();
  return { AWS_ACCESS_KEY_ID: connection.accessKeyId, AWS_SECRET_ACCESS_KEY: connection.secretAccessKey, AWS_REGION: connection.region };
}

/** An SDK client for the test server, as a user would configure one for an S3-compatible endpoint. */
export function radosgwClient(overrides: S3ClientConfig = {}): S3Client {
  const connection = radosgwConnection();
  return new S3Client({
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: true,
    credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
    ...overrides,
  });
}

/** A new, empty bucket of its own for one test (`objectLock`: created with Object Lock enabled, hence versioned). */
export async function createTestBucket(client: S3Client, options: { readonly objectLock?: boolean } = {}): Promise<string> {
  const bucket = `cairn-test-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket, ...(options.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }));
  return bucket;
}

/** Empties an unversioned test bucket and deletes it, so a long test run does not fill the test server. */
export async function deleteTestBucket(client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    const keys = (page.Contents ?? []).map((object) => object.Key!);
    if (keys.length === 0) break;
    await Promise.all(keys.map((key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))));
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}
