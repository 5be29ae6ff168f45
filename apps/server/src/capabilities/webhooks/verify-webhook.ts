import { timingSafeEqual } from 'node:crypto';
import { CairnError } from '@cairn/protocol';
import { webhookMac } from './sign-webhook.ts';

/** A verified delivery: its id (to drop duplicates), when it was sent, and the parsed body. */
export interface VerifiedWebhook {
  readonly id: string;
  readonly timestamp: number;
  readonly payload: { readonly type: string; readonly timestamp: string; readonly data: Record<string, unknown> };
}

export interface VerifyWebhookOptions {
  /** The endpoint's `whsec_...` secret. */
  readonly secret: string;
  /** The request's headers (node:http's `request.headers`, or a fetch `Headers`). */
  readonly headers: Headers | Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The raw body, exactly as received: re-serialised JSON would not verify. */
  readonly body: string | Uint8Array;
  /** How far the sender's clock may be from ours, either way (default 300 s): older messages are replays. */
  readonly toleranceSeconds?: number;
  /** The time now in milliseconds (default `Date.now()`). */
  readonly now?: number;
}

/**
 * For receivers: checks a Standard Webhooks delivery — its signature (any of the space-separated
 * `v1,` ones, compared in constant time) over `id.timestamp.body`, and that its timestamp is within
 * the tolerance — and returns it parsed. Throws CAIRN_SIGNATURE_INVALID saying which check failed;
 * answer such a request 401 and do not act on it.
 */
export function verifyWebhook(options: VerifyWebhookOptions): VerifiedWebhook {
  const header = (name: string): string | undefined => {
    if (options.headers instanceof Headers) return options.headers.get(name) ?? undefined;
    const value = (options.headers as Record<string, string | readonly string[] | undefined>)[name];
    return typeof value === 'string' ? value : value?.[0];
  };
  const id = header('webhook-id');
  const timestampText = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !timestampText || !signatures) {
    throw new CairnError(
      'CAIRN_SIGNATURE_INVALID',
      'The webhook request lacks a webhook-id, webhook-timestamp or webhook-signature header: it is not a signed delivery.',
      { path: 'headers' },
    );
  }
  const timestamp = Number(timestampText);
  if (!/^\d{1,12}$/.test(timestampText) || !Number.isSafeInteger(timestamp)) {
    throw new CairnError('CAIRN_SIGNATURE_INVALID', `The webhook-timestamp ${JSON.stringify(timestampText)} is not Unix seconds.`, {
      path: 'headers.webhook-timestamp',
    });
  }
  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - timestamp) > tolerance) {
    throw new CairnError(
      'CAIRN_SIGNATURE_INVALID',
      `The webhook-timestamp ${timestamp} is more than ${tolerance} s from now (${now}): a replayed or delayed message, or a clock that is off.`,
      { path: 'headers.webhook-timestamp' },
    );
  }
  const body =
    typeof options.body === 'string' ? options.body : Buffer.from(options.body.buffer, options.body.byteOffset, options.body.byteLength).toString('utf8');
  const expected = webhookMac(options.secret, { id, timestamp, body });
  const matches = signatures.split(' ').some((signature) => {
    const [version, encoded] = signature.split(',', 2);
    if (version !== 'v1' || encoded === undefined) return false;
    const given = Buffer.from(encoded, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches)
    throw new CairnError(
      'CAIRN_SIGNATURE_INVALID',
      'No v1 signature in webhook-signature matches the body with this secret: the body was altered, or another secret signed it.',
      { path: 'headers.webhook-signature' },
    );
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch (error) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The webhook body is signed but is not JSON.', {
      path: 'body',
      cause: error,
      // The signature matched, so these are the bytes the holder of the secret signed: not a Cairn delivery.
      action: 'A Cairn server sends JSON: check which sender holds this signing secret, and rotate it if it is not a Cairn server.',
    });
  }
  return { id, timestamp, payload: payload as VerifiedWebhook['payload'] };
}
