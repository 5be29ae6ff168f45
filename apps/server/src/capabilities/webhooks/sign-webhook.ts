import { createHmac } from 'node:crypto';
import { webhookSecretKey } from './webhook-secret.ts';

/** What a Standard Webhooks signature covers: the message id, the send time and the exact body. */
export interface WebhookMessage {
  /** The `webhook-id`: the same on every retry of one delivery, so a receiver can drop duplicates. */
  readonly id: string;
  /** Unix seconds of this attempt (`webhook-timestamp`). */
  readonly timestamp: number;
  /** The request body, byte for byte as sent. */
  readonly body: string;
}

/** HMAC-SHA256 of `id.timestamp.body` under the secret's key: what senders sign and receivers check. */
export function webhookMac(secret: string, message: WebhookMessage): Buffer {
  return createHmac('sha256', webhookSecretKey(secret)).update(`${message.id}.${message.timestamp}.${message.body}`).digest();
}

/** `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, the `webhook-signature` of a message. */
export function signWebhook(secret: string, message: WebhookMessage): string {
  return `v1,${webhookMac(secret, message).toString('base64')}`;
}

/** The three Standard Webhooks headers of a message. */
export function webhookHeaders(secret: string, message: WebhookMessage): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return { 'webhook-id': message.id, 'webhook-timestamp': String(message.timestamp), 'webhook-signature': signWebhook(secret, message) };
}
