import type { AuditEntry, DsseEnvelope, JsonObject, SignerRotation, SignerV1 } from '@cairn/core';
import { CairnError, dsseEnvelopeSchema, parsePayload, signerRotationSchema } from '@cairn/protocol';
import { openCanonicalPayload, signCanonicalPayload } from '../checkpoint/canonical-payload.ts';
import { decodeBase64Strict } from '../dsse/base64.ts';
import { trustedKeyFrom } from '../dsse/verify-signature.ts';

/** DSSE payload type of a signer rotation statement (ADR 0019). */
export const signerRotationPayloadType = 'application/vnd.cairn.signer-rotation+json';

/**
 * Signs a rotation statement (its canonical JSON) as a DSSE envelope. `signer` must be the key
 * handing over (`rotation.from`): a statement signed by any other key is refused here, as every
 * verifier would refuse it. Throws CAIRN_SIGNER_FAILED for a signer of another key.
 */
export async function signSignerRotation(rotation: SignerRotation, signer: SignerV1): Promise<DsseEnvelope> {
  const keyId = await signer.keyId();
  if (keyId !== rotation.from.keyId) {
    throw new CairnError('CAIRN_SIGNER_FAILED', `A rotation from ${rotation.from.keyId} must be signed by that key, not by ${keyId}.`, {
      details: { expected: rotation.from.keyId, keyId },
    });
  }
  return signCanonicalPayload(signerRotationPayloadType, rotation, signerRotationSchema, 'signer rotation', signer);
}

/**
 * The data of the `signer.rotated` entry recording `statement`: the key ids and handover point (to
 * query and read), and the signed statement, which is what a verifier believes.
 */
export function signerRotatedData(rotation: SignerRotation, statement: DsseEnvelope): JsonObject {
  return {
    fromKeyId: rotation.from.keyId,
    toKeyId: rotation.to.keyId,
    fromCheckpoint: rotation.fromCheckpoint,
    statement: {
      payloadType: statement.payloadType,
      payload: statement.payload,
      signatures: statement.signatures.map((signature) => ({ keyid: signature.keyid, sig: signature.sig })),
    },
  };
}

/**
 * Opens the statement of a `signer.rotated` entry: the statement must be signed by the key it
 * hands over FROM (its public key is in the statement, and its id must be its digest), and the
 * entry's key ids and handover point must be the statement's. This proves only that the old key
 * made the statement: whether the old key is the one the verifier trusts, or the one the log was
 * signed with, is the caller's check. Throws CAIRN_SIGNATURE_INVALID (a statement signed by
 * another key — the new one, say — is a forged rotation) or CAIRN_PAYLOAD_INVALID.
 */
export function openSignerRotatedEntry(entry: AuditEntry): SignerRotation {
  const where = `entry seq ${entry.seq} (signer.rotated)`;
  const statement = parsePayload(dsseEnvelopeSchema, entry.data['statement'], `${where} data.statement`);
  if (statement.payloadType !== signerRotationPayloadType) {
    throw new CairnError(
      'CAIRN_SIGNATURE_INVALID',
      `${where}: the statement's payloadType is ${JSON.stringify(statement.payloadType)}, not ${JSON.stringify(signerRotationPayloadType)}: a signature made for something else is no handover.`,
      { path: '$.data.statement.payloadType' },
    );
  }
  const claimed = readUnverified(statement, where);
  const fromKey = trustedKeyFrom(claimed.from, `${where} statement from`);
  let rotation: SignerRotation;
  try {
    rotation = openCanonicalPayload(statement, signerRotationPayloadType, [fromKey], signerRotationSchema, 'signer rotation');
  } catch (error) {
    const signedBy = statement.signatures.map((signature) => signature.keyid).join(', ');
    throw new CairnError(
      'CAIRN_SIGNATURE_INVALID',
      `${where}: the rotation statement is not signed by the key it hands over from (${claimed.from.keyId}); its signatures name ${signedBy}. Only the old key can hand the log over: a forged rotation.`,
      { path: '$.data.statement.signatures', cause: error },
    );
  }
  const data = entry.data;
  if (data['fromKeyId'] !== rotation.from.keyId || data['toKeyId'] !== rotation.to.keyId || data['fromCheckpoint'] !== rotation.fromCheckpoint) {
    throw new CairnError(
      'CAIRN_SIGNATURE_INVALID',
      `${where}: data says ${String(data['fromKeyId'])} → ${String(data['toKeyId'])} at ${String(data['fromCheckpoint'])}, but the signed statement says ${rotation.from.keyId} → ${rotation.to.keyId} at ${rotation.fromCheckpoint}.`,
      { path: '$.data' },
    );
  }
  return rotation;
}

/**
 * The statement of a `signer.rotated` entry, read WITHOUT checking its signature (for the log's
 * own writer, to list the keys it names); undefined when the entry holds no readable statement.
 * Verifiers use `openSignerRotatedEntry`.
 */
export function readSignerRotation(entry: AuditEntry): SignerRotation | undefined {
  const statement = dsseEnvelopeSchema.safeParse(entry.data['statement']);
  if (!statement.success) return undefined;
  try {
    return readUnverified(statement.data, `entry seq ${entry.seq}`);
  } catch {
    return undefined;
  }
}

// The statement's payload read before its signature is checked, only to learn which key must have
// signed it; nothing read here is believed until openCanonicalPayload has verified it.
function readUnverified(statement: DsseEnvelope, where: string): SignerRotation {
  const payload = decodeBase64Strict(statement.payload);
  let value: unknown;
  try {
    value = payload && JSON.parse(new TextDecoder().decode(payload));
  } catch {
    value = undefined;
  }
  return parsePayload(signerRotationSchema, value, `${where} statement`);
}
