import { KMSClient } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { z } from 'zod';

/**
 * How a seam of this package reaches its KMS key. The signer's and the cipher's settings are this
 * shape, so `createKmsSigner`, `createKmsCipher` and (later) the server config spell the options
 * the same way.
 */
export const kmsKeySettingsShape = {
  /**
   * The key: a key id (`1234abcd-…`), a key ARN, an alias (`alias/cairn-checkpoints`) or an alias
   * ARN. KMS resolves it on every request; the key id it answers with is what envelopes record.
   */
  keyId: z
    .string({ error: 'must be a KMS key id, key ARN or alias, e.g. alias/cairn-checkpoints' })
    .min(1, 'must be a KMS key id, key ARN or alias, e.g. alias/cairn-checkpoints')
    .max(2048, 'is longer than the 2048 characters KMS accepts for a key id'),
  /** The key's region; unset: the SDK's default chain (AWS_REGION, the shared config file). */
  region: z.string().min(1).optional(),
  /** A KMS-compatible endpoint instead of AWS's (a VPC endpoint, a test endpoint on loopback). */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of a KMS endpoint, e.g. https://kms.eu-west-1.amazonaws.com' }).optional(),
  /** How long one request may take (connect, then each wait for data) before it is abandoned and retried. */
  requestTimeoutMs: z.int().min(100).max(600_000).default(10_000),
  /** Attempts per KMS call, the first included, on throttling, 5xx, connection resets and timeouts. */
  maxAttempts: z.int().min(1).max(20).default(5),
  /**
   * A configured SDK client to use instead of one built from the options above (credentials,
   * proxies, a retry policy of one's own). Its SDK major must match this package's (v3).
   */
  client: z
    .custom<KMSClient>((value) => typeof (value as { send?: unknown } | null)?.send === 'function', 'must be a KMSClient of @aws-sdk/client-kms v3')
    .optional(),
};

export const kmsKeySettingsSchema = z.strictObject(kmsKeySettingsShape);
export type KmsKeySettings = z.output<typeof kmsKeySettingsSchema>;

/**
 * The client a seam sends its requests with: the injected one, or one built from the settings
 * with credentials from the SDK's default chain. The SDK's own retries are off (`maxAttempts: 1`):
 * the seams retry each call themselves (`withKmsRetries`), so one setting bounds every retry and
 * each retry is visible to the seam.
 */
export function kmsClientFor(settings: KmsKeySettings): KMSClient {
  if (settings.client) return settings.client;
  return new KMSClient({
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    maxAttempts: 1,
    // Without throwOnRequestTimeout, this handler only logs a warning when requestTimeout passes
    // and keeps waiting: a KMS that never answers would hang a checkpoint for good.
    requestHandler: new NodeHttpHandler({
      connectionTimeout: settings.requestTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      throwOnRequestTimeout: true,
    }),
  });
}

/** How messages name a key: its id as configured and, when set, the endpoint. */
export function describeKmsKey(settings: Pick<KmsKeySettings, 'keyId' | 'endpoint'>): string {
  return `KMS key ${settings.keyId}${settings.endpoint ? ` at ${settings.endpoint}` : ''}`;
}
