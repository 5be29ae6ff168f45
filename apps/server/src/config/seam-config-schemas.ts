import { z } from 'zod';
import { kmsKeyShape, s3LocationShape } from './aws-config-shapes.ts';

/** A config without `kind` is a local one (every config before S3 existed). */
export const localByDefault = (value: unknown) =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !('kind' in value) ? { ...value, kind: 'local' } : value;

/** A key-file seam (the default, under the data directory) or a KMS key. */
const keyFileOrKms = (kmsUse: string) =>
  z.preprocess(
    localByDefault,
    z.discriminatedUnion(
      'kind',
      [z.strictObject({ kind: z.literal('local'), keyFile: z.string().min(1).optional() }), z.strictObject({ kind: z.literal('kms'), ...kmsKeyShape })],
      { error: `must be 'local' (a key file) or 'kms' (${kmsUse})` },
    ),
  );

/** The signer of checkpoints and manifests: an Ed25519 key file, or an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY). */
export const signerConfigSchema = keyFileOrKms('an ECC_NIST_P256 SIGN_VERIFY key');
/** The cipher of secrets: an AES-256-GCM key file, or a symmetric KMS key (envelope encryption with data keys). */
export const cipherConfigSchema = keyFileOrKms('a symmetric ENCRYPT_DECRYPT key');

/** Storage: a local directory (the default) or an S3 bucket and prefix. */
export const storageConfigSchema = z.preprocess(
  localByDefault,
  z.discriminatedUnion(
    'kind',
    [
      z.strictObject({ kind: z.literal('local'), root: z.string().min(1).optional() }),
      z.strictObject({
        kind: z.literal('s3'),
        ...s3LocationShape,
        /**
         * How long an operation that keeps failing transiently (S3 down, restarting, failing over) is
         * retried past `maxAttempts` before it fails (milliseconds from its first attempt): a shorter
         * outage is waited out by the server, its tasks and workers, and fails no item. 0: `maxAttempts` alone.
         */
        outageBudgetMs: z.int().min(0).max(3_600_000).default(60_000),
        /**
         * Server-side encryption asked for on every object written: `sse-s3` (S3-managed keys) or
         * `sse-kms` with `keyId`. Unset: the bucket's default encryption applies.
         */
        encryption: z
          .discriminatedUnion(
            'kind',
            [
              z.strictObject({ kind: z.literal('sse-s3') }),
              z.strictObject({ kind: z.literal('sse-kms'), keyId: z.string().min(1, 'must name the KMS key (id, ARN or alias/…)') }),
            ],
            { error: 'must be { kind: sse-s3 } or { kind: sse-kms, keyId: <KMS key id, ARN or alias> }' },
          )
          .optional(),
      }),
    ],
    { error: "must be 'local' (a directory) or 's3' (a bucket)" },
  ),
);

/**
 * An audit anchor: a local directory (`detect`), an S3 Object Lock bucket (`external-immutable`), or
 * an RFC 3161 timestamp authority (`detect`; its tokens make bundles `witnessed`).
 */
export const anchorConfigSchema = z.preprocess(
  localByDefault,
  z.discriminatedUnion(
    'kind',
    [
      z.strictObject({ kind: z.literal('local'), directory: z.string().min(1).optional() }),
      z.strictObject({
        kind: z.literal('s3-object-lock'),
        ...s3LocationShape,
        /** How long each anchored checkpoint is locked (COMPLIANCE mode: nobody can delete or shorten it, the account's root included). */
        retentionDays: z
          .int({ error: 'must be a whole number of days, e.g. 365' })
          .min(1, 'must be at least 1 day')
          .max(36_500, 'must be at most 36500 days (100 years)'),
      }),
      z.strictObject({
        kind: z.literal('rfc3161'),
        /** The TSA's RFC 3161 HTTP endpoint: each checkpoint's SHA-256 is POSTed to it for a timestamp token. */
        url: z.url({ protocol: /^https?$/, error: "must be the http(s) URL of the TSA's RFC 3161 endpoint, e.g. https://tsa.example/tsr" }),
        /** The TSA's signing certificate (PEM file, relative to the config): replies must verify with it, and verifiers in this folder trust it. */
        trustedCertificate: z.string().min(1, "must name the TSA certificate's PEM file, e.g. ./keys/tsa.pem"),
        /** How long one request may take before the TSA counts as unavailable (the checkpoint stays queued). */
        timeoutMs: z.int().min(100).max(300_000).optional(),
      }),
    ],
    {
      error: "must be 'local' (a directory), 's3-object-lock' (an S3 bucket with Object Lock) or 'rfc3161' (a timestamp authority: url and trustedCertificate)",
    },
  ),
);
