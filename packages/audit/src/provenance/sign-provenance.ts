import type { SignerV1 } from '@cairn/core';
import { canonicalJsonBytes, parsePayload } from '@cairn/protocol';
import { signEnvelope } from '../dsse/dsse-envelope.ts';
import { inTotoPayloadType, provenanceStatementSchema, type ProvenanceStatement } from './provenance-statement.ts';
import { sigstoreBundleMediaType, type SigstoreBundle } from './sigstore-bundle.ts';

/**
 * Signs a provenance statement (its canonical JSON) as a DSSE envelope of payloadType
 * `application/vnd.in-toto+json` with `signer`, through `SignerV1`, so a KMS key signs it as a
 * key file does, and wraps it in a Sigstore bundle v0.3 whose key hint is the signer's key id.
 * Throws CAIRN_PAYLOAD_INVALID for a statement that is not valid, CAIRN_SIGNER_FAILED as the signer does.
 */
export async function signProvenance(statement: ProvenanceStatement, signer: SignerV1): Promise<SigstoreBundle> {
  const payload = canonicalJsonBytes(parsePayload(provenanceStatementSchema, statement, 'provenance statement'));
  const envelope = await signEnvelope(inTotoPayloadType, payload, signer);
  const signature = envelope.signatures[0]!;
  return {
    mediaType: sigstoreBundleMediaType,
    verificationMaterial: { publicKey: { hint: signature.keyid }, tlogEntries: [] },
    dsseEnvelope: { payload: envelope.payload, payloadType: envelope.payloadType, signatures: [{ sig: signature.sig, keyid: signature.keyid }] },
  };
}

/** The bytes a provenance bundle is stored and served as: its canonical JSON, so one bundle has one digest. */
export function serializeProvenanceBundle(bundle: SigstoreBundle): Uint8Array {
  return canonicalJsonBytes(bundle);
}
