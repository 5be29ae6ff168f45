import { z } from 'zod';

export const credentialOptions = ['accessKeyId', 'secretAccessKey', 'sessionToken', 'credentials'] as const;

/**
 * Credentials are never written in a config: the server takes them from the AWS SDK's default
 * chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared files, or the
 * instance's or task's role). Every AWS seam's options refuse them, saying so.
 */
export const noCredentials = Object.fromEntries(
  credentialOptions.map((option) => [
    option,
    z
      .never({
        error: `credentials are never written in the config: the server takes them from the AWS SDK's default chain (the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables, AWS_PROFILE with the shared files, or an instance or task role); remove ${option}`,
      })
      .optional(),
  ]),
) as Record<(typeof credentialOptions)[number], z.ZodOptional<z.ZodNever>>;

/**
 * Where an S3 seam keeps its objects: the options `@cairn/s3`'s settings share
 * (`s3LocationSettingsShape`), spelled the same way. Written out here rather than imported: the
 * config is read by every server, and a local one never loads the AWS SDK that package pulls in.
 * A test keeps the two lists of option names equal.
 */
export const s3LocationShape = {
  /** The bucket (it must exist: Cairn never creates or reconfigures a bucket). */
  bucket: z
    .string({ error: 'must name the bucket, e.g. acme-cairn (Cairn never creates one)' })
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, e.g. acme-cairn'),
  /** Keys are written under this prefix (`cairn/`); empty: the bucket's root. */
  prefix: z
    .string()
    .refine((prefix) => !prefix.startsWith('/'), "must not start with '/': S3 keys have no leading slash (write cairn/, not /cairn/)")
    .default(''),
  /** The bucket's region; unset: the SDK's default chain (AWS_REGION, the shared config file). */
  region: z.string().min(1, 'must name a region, e.g. eu-west-1').optional(),
  /** An S3-compatible endpoint instead of AWS's (`http://127.0.0.1:7480` for radosgw, MinIO). */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an S3 endpoint, e.g. https://s3.eu-west-1.amazonaws.com' }).optional(),
  /** Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (most S3-compatible servers need it). */
  forcePathStyle: z.boolean({ error: 'must be true or false' }).default(false),
  /** How long one request may take before it is abandoned and retried (milliseconds). */
  requestTimeoutMs: z.int().min(100).max(600_000).default(30_000),
  /** Attempts per operation, the first included, on 5xx, throttling, connection resets and timeouts. */
  maxAttempts: z.int().min(1).max(20).default(5),
  ...noCredentials,
};

/** The option names of an S3 location (a test compares them with `@cairn/s3`'s). */
export const s3LocationOptionNames = Object.keys(s3LocationShape).filter((name) => !(credentialOptions as readonly string[]).includes(name));

/**
 * How a KMS seam reaches its key: the options `@cairn/kms`'s settings share (`kmsKeySettingsShape`),
 * written out for the same reason as the S3 ones (a test keeps the names equal).
 */
export const kmsKeyShape = {
  /** The key: a key id, a key ARN, an alias (`alias/cairn-checkpoints`) or an alias ARN. */
  keyId: z.string().min(1, 'must be a KMS key id, key ARN or alias, e.g. alias/cairn-checkpoints').max(2048),
  /** The key's region; unset: the SDK's chain (AWS_REGION, the shared config). */
  region: z.string().min(1).optional(),
  /** A KMS-compatible endpoint instead of AWS's (a VPC endpoint). */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of a KMS endpoint, e.g. https://kms.eu-west-1.amazonaws.com' }).optional(),
  /** How long one request may take before it is abandoned and retried (milliseconds). */
  requestTimeoutMs: z.int().min(100).max(600_000).default(10_000),
  /** Attempts per KMS call, the first included, on throttling, 5xx, connection resets and timeouts. */
  maxAttempts: z.int().min(1).max(20).default(5),
  ...noCredentials,
};

/** The option names of a KMS key (a test compares them with `@cairn/kms`'s). */
export const kmsKeyOptionNames = Object.keys(kmsKeyShape).filter((name) => !(credentialOptions as readonly string[]).includes(name));
