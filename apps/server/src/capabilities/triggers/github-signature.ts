import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Whether `signature` (the X-Hub-Signature-256 header) is GitHub's signature of `body` with
 * `secret`: `sha256=` and the hex HMAC-SHA256 of the raw bytes. Compared in constant time, so the
 * time of a refusal says nothing about how much of a guess was right.
 */
export function isGithubSignature(body: Uint8Array, signature: string | undefined, secret: string): boolean {
  if (signature === undefined || !/^sha256=[0-9a-f]{64}$/.test(signature)) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(signature.slice('sha256='.length), 'hex'));
}
