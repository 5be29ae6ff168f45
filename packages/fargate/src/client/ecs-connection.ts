import { ECSClient } from '@aws-sdk/client-ecs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { kmsKeySettingsShape } from '@cairn/kms';
import { z } from 'zod';

/**
 * How the executor reaches ECS: `@cairn/kms`'s options (region, requestTimeoutMs, maxAttempts, the
 * same for every AWS API call Cairn makes), an ECS endpoint and an ECS client, so the server config
 * spells them alike.
 */
export const ecsClientSettingsShape = {
  /** The cluster's region; unset: the SDK's default chain (AWS_REGION, the shared config file). */
  region: kmsKeySettingsShape.region,
  /** How long one request may take (connect, then the answer) before it is abandoned and retried. */
  requestTimeoutMs: kmsKeySettingsShape.requestTimeoutMs,
  /** Attempts per ECS call, the first included, on throttling, 5xx, connection resets and timeouts. */
  maxAttempts: kmsKeySettingsShape.maxAttempts,
  /** An ECS-compatible endpoint instead of AWS's (a VPC endpoint, a test endpoint on loopback). */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an ECS endpoint, e.g. https://ecs.eu-west-1.amazonaws.com' }).optional(),
  /**
   * A configured SDK client to use instead of one built from the options above (credentials,
   * proxies). Its SDK major must match this package's (v3).
   */
  client: z
    .custom<ECSClient>((value) => typeof (value as { send?: unknown } | null)?.send === 'function', 'must be an ECSClient of @aws-sdk/client-ecs v3')
    .optional(),
};

export type EcsClientSettings = z.output<z.ZodObject<typeof ecsClientSettingsShape>>;

/**
 * The client the executor sends its calls with: the injected one, or one built from the settings
 * with credentials from the SDK's default chain. The SDK's own retries are off: the executor
 * retries each call itself (`withEcsRetries`), so one setting bounds every retry.
 */
export function ecsClientFor(settings: EcsClientSettings): ECSClient {
  if (settings.client) return settings.client;
  return new ECSClient({
    ...(settings.region ? { region: settings.region } : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    maxAttempts: 1,
    // Without throwOnRequestTimeout this handler only warns when requestTimeout passes and keeps
    // waiting: an ECS that never answers would hang a reconcile pass.
    requestHandler: new NodeHttpHandler({
      connectionTimeout: settings.requestTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      throwOnRequestTimeout: true,
    }),
  });
}
