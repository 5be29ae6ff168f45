import type { DsseEnvelope, SignerV1 } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { decodeBase64Strict, encodeBase64 } from './base64.ts';
import { preAuthenticationEncoding } from './pre-authentication-encoding.ts';
import { verifySignature, type TrustedKey } from './verify-signature.ts';

/** Signs `payload` as a DSSE envelope of `payloadType` with one signature from `signer`. */
export async function signEnvelope(payloadType: string, payload: Uint8Array, signer: SignerV1): Promise<DsseEnvelope> {
  const signature = await signer.sign(preAuthenticationEncoding(payloadType, payload));
  // Members in code-unit order, as canonical JSON writes them: an envelope stored by its digest
  // (a pass's manifests each hold their batch's) is then written as it stands, not sorted first.
  return {
    payload: encodeBase64(payload),
    payloadType,
    signatures: [{ keyid: await signer.keyId(), sig: encodeBase64(signature) }],
  };
}

/** What a verified envelope holds, and which trusted key vouched for it. */
export interface OpenedEnvelope {
  readonly payload: Uint8Array;
  readonly keyId: string;
}

/**
 * Verifies a DSSE envelope: its payloadType must be `payloadType` exactly, and at least one
 * signature must verify under a key of `trustedKeys` whose id it names. Returns the payload.
 * Throws CAIRN_SIGNATURE_INVALID saying which of those failed.
 */
export function openEnvelope(envelope: DsseEnvelope, payloadType: string, trustedKeys: readonly TrustedKey[]): OpenedEnvelope {
  if (envelope.payloadType !== payloadType) {
    throw new CairnError(
      'CAIRN_SIGNATURE_INVALID',
      `The envelope's payloadType is ${JSON.stringify(envelope.payloadType)}, expected ${JSON.stringify(payloadType)}.`,
      { path: '$.payloadType' },
    );
  }
  const payload = decodeBase64Strict(envelope.payload);
  if (!payload) throw new CairnError('CAIRN_SIGNATURE_INVALID', 'The envelope payload is not canonical base64.', { path: '$.payload' });
  const signed = preAuthenticationEncoding(payloadType, payload);
  let namedTrustedKey = false;
  for (const signature of envelope.signatures) {
    const trusted = trustedKeys.find((candidate) => candidate.record.keyId === signature.keyid);
    if (!trusted) continue;
    namedTrustedKey = true;
    const bytes = decodeBase64Strict(signature.sig);
    if (bytes && verifySignature(trusted.record.algorithm, trusted.key, signed, bytes)) return { payload, keyId: trusted.record.keyId };
  }
  // Name the keys: after a key rotation, the one the caller lacks is what to add.
  const signedBy = envelope.signatures.map((signature) => signature.keyid).join(', ');
  throw new CairnError(
    'CAIRN_SIGNATURE_INVALID',
    namedTrustedKey
      ? `No signature of the envelope verifies with the trusted key it names (${signedBy}).`
      : `No signature of the envelope is by a trusted key: it is signed by ${signedBy || 'no key'}, which is not trusted.`,
    { path: '$.signatures', details: { signedBy: envelope.signatures.map((signature) => signature.keyid) } },
  );
}
