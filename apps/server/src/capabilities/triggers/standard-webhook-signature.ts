import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers of a Standard Webhooks delivery (https://www.standardwebhooks.com/). */
export interface StandardWebhookHeaders {
  readonly id: string | undefined;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
}

/** What may be in `webhook-id`: it is signed inside `id.timestamp.body`, and kept to claim it once. */
const webhookIdPattern = /^[\x21-\x7e]{1,256}$/;
/** A `v1` signature: base64 of the 32 bytes of an HMAC-SHA256. */
const v1Signature = /^v1,([A-Za-z0-9+/]{43}=)$/;

/**
 * The key of a secret written as the spec writes it: `whsec_` and the base64 of the key's bytes
 * (the prefix may be left off, as the spec's libraries allow). Undefined when it is not base64 or
 * holds no byte: an HMAC with an empty key would accept anyone's signature made the same way.
 */
export function standardWebhookKey(secret: string): Buffer | undefined {
  const text = secret.trim().replace(/^whsec_/, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 === 1) return undefined;
  const key = Buffer.from(text, 'base64');
  return key.length === 0 ? undefined : key;
}

/** `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` with `key`: how a sender signs a delivery. */
export function standardWebhookSignature(key: Uint8Array, id: string, timestamp: string, body: Uint8Array): string {
  return `v1,${signatureBytes(key, id, timestamp, body).toString('base64')}`;
}

/**
 * Why a delivery is not a verified Standard Webhooks message signed with `key` and sent within
 * `toleranceSeconds` of `nowMs` (either side: a clock ahead of ours is as suspect as a replay), or
 * undefined when it is. `webhook-signature` may hold several space-separated signatures (a sender
 * rotating its secret signs with both); one `v1` of them must match, each compared in constant
 * time. Signatures of other versions (`v1a`, asymmetric) are not ours to check and never match.
 */
export function standardWebhookProblem(
  key: Uint8Array,
  headers: StandardWebhookHeaders,
  body: Uint8Array,
  toleranceSeconds: number,
  nowMs: number,
): string | undefined {
  const { id, timestamp, signature } = headers;
  if (id === undefined || timestamp === undefined || signature === undefined) {
    const missing = Object.entries({ id, timestamp, signature }).flatMap(([name, value]) => (value === undefined ? [`webhook-${name}`] : []));
    return `the delivery has no ${missing.join(', ')} header${missing.length === 1 ? '' : 's'}`;
  }
  if (!webhookIdPattern.test(id)) return 'webhook-id is not 1 to 256 visible ASCII characters';
  if (!/^[0-9]{1,12}$/.test(timestamp)) return `webhook-timestamp ${JSON.stringify(timestamp.slice(0, 40))} is not a time in whole seconds since 1970`;
  const skew = Number(timestamp) - Math.floor(nowMs / 1_000);
  if (skew < -toleranceSeconds) return `webhook-timestamp is ${-skew} s old, beyond the tolerance of ${toleranceSeconds} s (a stale or replayed delivery)`;
  if (skew > toleranceSeconds) return `webhook-timestamp is ${skew} s ahead of this server's clock, beyond the tolerance of ${toleranceSeconds} s`;
  const expected = signatureBytes(key, id, timestamp, body);
  const candidates = signature.split(' ').filter((part) => part !== '');
  let matched = false;
  for (const candidate of candidates) {
    const digest = v1Signature.exec(candidate)?.[1];
    // Every candidate is compared (no early exit): the time taken says nothing of which matched.
    if (digest !== undefined && timingSafeEqual(expected, Buffer.from(digest, 'base64'))) matched = true;
  }
  if (matched) return undefined;
  return candidates.some((candidate) => v1Signature.test(candidate))
    ? 'webhook-signature holds no v1 signature of "id.timestamp.body" with the webhook secret'
    : 'webhook-signature holds no v1 signature (v1, and the base64 of an HMAC-SHA256)';
}

function signatureBytes(key: Uint8Array, id: string, timestamp: string, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}
