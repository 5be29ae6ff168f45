import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers of a Slack request the signature check reads. */
export interface SlackSignatureHeaders {
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
}

const v0Signature = /^v0=([0-9a-f]{64})$/;

/** `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret: how Slack signs a request. */
export function slackSignature(secret: string, timestamp: string, body: Uint8Array): string {
  return `v0=${signatureBytes(secret, timestamp, body).toString('hex')}`;
}

/**
 * Why a request is not Slack's, signed with `secret` within `toleranceSeconds` of `nowMs` (either
 * side), or undefined when it is. The timestamp is checked first (it is inside what is signed, so a
 * stale request cannot be refreshed without the secret), then the signature, in constant time.
 */
export function slackSignatureProblem(
  secret: string,
  headers: SlackSignatureHeaders,
  body: Uint8Array,
  toleranceSeconds: number,
  nowMs: number,
): string | undefined {
  const { signature, timestamp } = headers;
  if (signature === undefined || timestamp === undefined)
    return `the request has no ${[signature === undefined ? 'X-Slack-Signature' : '', timestamp === undefined ? 'X-Slack-Request-Timestamp' : ''].filter(Boolean).join(' and ')} header`;
  if (!/^[0-9]{1,12}$/.test(timestamp)) return `X-Slack-Request-Timestamp ${JSON.stringify(timestamp.slice(0, 40))} is not a time in whole seconds since 1970`;
  const skew = Number(timestamp) - Math.floor(nowMs / 1_000);
  if (skew < -toleranceSeconds)
    return `X-Slack-Request-Timestamp is ${-skew} s old, beyond the tolerance of ${toleranceSeconds} s (a stale or replayed request)`;
  if (skew > toleranceSeconds) return `X-Slack-Request-Timestamp is ${skew} s ahead of this server's clock, beyond the tolerance of ${toleranceSeconds} s`;
  const digest = v0Signature.exec(signature)?.[1];
  if (digest === undefined) return 'X-Slack-Signature is not v0= and a hex HMAC-SHA256';
  return timingSafeEqual(signatureBytes(secret, timestamp, body), Buffer.from(digest, 'hex'))
    ? undefined
    : 'X-Slack-Signature is not the HMAC-SHA256 of "v0:timestamp:body" with the app\'s signing secret';
}

function signatureBytes(secret: string, timestamp: string, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest();
}
