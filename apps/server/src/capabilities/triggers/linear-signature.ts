import { createHmac, timingSafeEqual } from 'node:crypto';

/** `Linear-Signature` as Linear sends it: the hex HMAC-SHA256 of the body, nothing before it. */
const hexSignature = /^[0-9a-f]{64}$/i;

/**
 * Why `body` is not signed by Linear with `secret` (the `Linear-Signature` header, the hex
 * HMAC-SHA256 of the raw bytes, compared in constant time), or undefined when it is. The
 * signature is checked before anything of the body is read: an unsigned body is never parsed.
 */
export function linearSignatureProblem(body: Uint8Array, signature: string | undefined, secret: string): string | undefined {
  if (signature === undefined) return 'the delivery has no Linear-Signature header';
  if (!hexSignature.test(signature)) return 'Linear-Signature is not a hex HMAC-SHA256 (64 hex digits)';
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'))
    ? undefined
    : 'Linear-Signature is not the HMAC-SHA256 of the body with the webhook signing secret';
}

/**
 * Why a signed delivery's `webhookTimestamp` (milliseconds since 1970, inside the signed body) is
 * not within `toleranceSeconds` of `nowMs` either side, or undefined when it is. It is the only
 * time Linear signs: an old signed body replayed after its delivery id was forgotten is refused here.
 */
export function linearTimestampProblem(webhookTimestamp: unknown, toleranceSeconds: number, nowMs: number): string | undefined {
  if (typeof webhookTimestamp !== 'number' || !Number.isSafeInteger(webhookTimestamp) || webhookTimestamp <= 0)
    return 'the delivery has no webhookTimestamp (milliseconds since 1970) in its body';
  const skew = webhookTimestamp - nowMs;
  if (skew < -toleranceSeconds * 1_000)
    return `webhookTimestamp is ${Math.round(-skew / 1_000)} s old, beyond the tolerance of ${toleranceSeconds} s (a stale or replayed delivery)`;
  if (skew > toleranceSeconds * 1_000)
    return `webhookTimestamp is ${Math.round(skew / 1_000)} s ahead of this server's clock, beyond the tolerance of ${toleranceSeconds} s`;
  return undefined;
}
