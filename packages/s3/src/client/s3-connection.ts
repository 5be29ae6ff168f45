import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { z } from 'zod';
import { s3SdkLogger } from './s3-sdk-logger.ts';

/**
 * Where a seam of this package keeps its objects and how it reaches them: one bucket and a key
 * prefix in it. Every seam's settings schema extends this shape, so `createS3StorageProvider`,
 * `createS3ObjectLockAnchor` and the server config spell these options the same way.
 */
export const s3LocationSettingsShape = {
  /** The bucket (it must exist: Cairn never creates or reconfigures a bucket). */
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, e.g. acme-cairn'),
  /** Keys are written under this prefix (`cairn/` → `cairn/blobs/...`); a `/` is added when missing. Empty: the bucket's root. */
  prefix: z
    .string()
    .refine((prefix) => !prefix.startsWith('/'), "must not start with '/': S3 keys have no leading slash (write cairn/, not /cairn/)")
    .transform((prefix) => (prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`))
    .default(''),
  /** The bucket's region; unset: the SDK's default chain (AWS_REGION, the shared config file). */
  region: z.string().min(1).optional(),
  /** An S3-compatible endpoint instead of AWS's (`http://127.0.0.1:7480` for radosgw, MinIO). */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an S3 endpoint, e.g. https://s3.eu-west-1.amazonaws.com' }).optional(),
  /** Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (most S3-compatible servers need it). */
  forcePathStyle: z.boolean().default(false),
  /** How long one request may take (connect, then each wait for data) before it is abandoned and retried. */
  requestTimeoutMs: z.int().min(100).max(600_000).default(30_000),
  /** Attempts per operation, the first included, on 5xx, throttling, connection resets and timeouts. */
  maxAttempts: z.int().min(1).max(20).default(5),
  /**
   * A configured SDK client to use instead of one built from the options above (credentials,
   * proxies, a retry policy of one's own). Its SDK major must match this package's (v3).
   */
  client: z
    .custom<S3Client>((value) => typeof (value as { send?: unknown } | null)?.send === 'function', 'must be an S3Client of @aws-sdk/client-s3 v3')
    .optional(),
};

export const s3LocationSettingsSchema = z.strictObject(s3LocationSettingsShape);
export type S3LocationSettings = z.output<typeof s3LocationSettingsSchema>;

/**
 * The client a seam sends its requests with: the injected one, or one built from the settings
 * with credentials from the SDK's default chain. The SDK's own retries are off (`maxAttempts: 1`):
 * the seams retry each operation themselves (`withS3Retries`), so a conditional write's `409
 * ConditionalRequestConflict` is retried too and one setting bounds every retry.
 */
export function s3ClientFor(settings: S3LocationSettings): S3Client {
  if (settings.client) return settings.client;
  return new S3Client({
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    maxAttempts: 1,
    // No log record built per request only to be dropped (see s3SdkLogger).
    logger: s3SdkLogger,
    // `socketTimeout` is the wait for data in either direction (a stalled answer, a stalled body).
    // Not `requestTimeout`: it bounds a whole request, upload included (a large PUT on a slow link
    // would fail), and this SDK only logs a warning when it passes unless told to throw.
    requestHandler: new NodeHttpHandler({ connectionTimeout: settings.requestTimeoutMs, socketTimeout: settings.requestTimeoutMs }),
  });
}

/** A key under the prefix, as S3 holds it. */
export function prefixedKey(settings: Pick<S3LocationSettings, 'prefix'>, key: string): string {
  return `${settings.prefix}${key}`;
}

/** How messages name a location: `s3://bucket/prefix` and, when set, the endpoint. */
export function describeS3Location(settings: Pick<S3LocationSettings, 'bucket' | 'prefix' | 'endpoint'>): string {
  return `s3://${settings.bucket}/${settings.prefix}${settings.endpoint ? ` at ${settings.endpoint}` : ''}`;
}
