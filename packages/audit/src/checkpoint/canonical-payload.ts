import type { DsseEnvelope, SignerV1 } from '@cairn/core';
import { CairnError, canonicalJsonBytes, parsePayload } from '@cairn/protocol';
import type { z } from 'zod';
import { openEnvelope, signEnvelope } from '../dsse/dsse-envelope.ts';
import type { TrustedKey } from '../dsse/verify-signature.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Signs `value` (checked against `schema`) as the canonical JSON payload of a DSSE envelope. */
export function signCanonicalPayload(payloadType: string, value: unknown, schema: z.ZodType, what: string, signer: SignerV1): Promise<DsseEnvelope> {
  return signEnvelope(payloadType, canonicalJsonBytes(parsePayload(schema, value, what)), signer);
}

/**
 * Verifies a DSSE envelope against trusted keys and returns its payload parsed by `schema`. The
 * payload must be the canonical JSON of a valid value, byte for byte, so one value has one
 * signed form. Throws CAIRN_SIGNATURE_INVALID or CAIRN_PAYLOAD_INVALID.
 */
export function openCanonicalPayload<Schema extends z.ZodType>(
  envelope: DsseEnvelope,
  payloadType: string,
  trustedKeys: readonly TrustedKey[],
  schema: Schema,
  what: string,
): z.output<Schema> {
  const { payload } = openEnvelope(envelope, payloadType, trustedKeys);
  return parseCanonicalPayload(payload, schema, what, '$.payload');
}

/**
 * Parses `payload` (signed bytes) by `schema`: it must be the canonical JSON of a valid value, byte
 * for byte. Throws CAIRN_PAYLOAD_INVALID naming `where`.
 */
export function parseCanonicalPayload<Schema extends z.ZodType>(payload: Uint8Array, schema: Schema, what: string, where: string): z.output<Schema> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch (error) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `The signed ${what} is not JSON.`, { path: where, cause: error });
  }
  const parsed = parsePayload(schema, value, what);
  if (Buffer.compare(canonicalJsonBytes(parsed), payload) !== 0) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `The signed ${what} is not in canonical JSON form.`, { path: where });
  }
  return parsed;
}
