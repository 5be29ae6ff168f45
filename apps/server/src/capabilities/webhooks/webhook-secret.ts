import { randomBytes } from 'node:crypto';
import { CairnError } from '@cairn/protocol';

/** Standard Webhooks secrets are `whsec_` + base64 of the key bytes. */
const prefix = 'whsec_';

/** A new signing secret: 32 random bytes (Standard Webhooks asks for 24 to 64). */
export function createWebhookSecret(): string {
  return `${prefix}${randomBytes(32).toString('base64')}`;
}

/**
 * The HMAC key of a `whsec_...` secret: its base64 part decoded. The prefix is optional, since
 * receivers sometimes store only the base64 part.
 */
export function webhookSecretKey(secret: string): Buffer {
  const encoded = secret.startsWith(prefix) ? secret.slice(prefix.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  // Buffer.from ignores characters outside base64: round-trip to refuse a mistyped secret.
  if (key.length < 24 || key.length > 64 || key.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      'The webhook secret is not a Standard Webhooks secret: expected whsec_ followed by the base64 of 24 to 64 bytes, as `cairn webhook add` printed it.',
      { path: 'secret' },
    );
  }
  return key;
}
