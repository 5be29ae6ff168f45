import type { Checkpoint, DispatchManifest, DsseEnvelope, SignerV1 } from '@cairn/core';
import { CairnError, canonicalJsonBytes, checkpointSchema, dispatchManifestSchema, parsePayload } from '@cairn/protocol';
import { openEnvelope, signEnvelope } from '../dsse/dsse-envelope.ts';
import type { TrustedKey } from '../dsse/verify-signature.ts';

/** DSSE payload type of a signed checkpoint. */
export const checkpointPayloadType = 'application/vnd.cairn.checkpoint+json';
/** DSSE payload type of a signed dispatch manifest. */
export const manifestPayloadType = 'application/vnd.cairn.manifest+json';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Signs a checkpoint (its canonical JSON) as a DSSE envelope. */
export function signCheckpoint(checkpoint: Checkpoint, signer: SignerV1): Promise<DsseEnvelope> {
  return signEnvelope(checkpointPayloadType, canonicalJsonBytes(parsePayload(checkpointSchema, checkpoint, 'checkpoint')), signer);
}

/**
 * Verifies a checkpoint envelope against trusted keys and returns the checkpoint. The payload
 * must be the canonical JSON of a valid checkpoint, byte for byte. Throws CAIRN_SIGNATURE_INVALID
 * or CAIRN_PAYLOAD_INVALID.
 */
export function openCheckpoint(envelope: DsseEnvelope, trustedKeys: readonly TrustedKey[]): Checkpoint {
  return openCanonicalPayload(envelope, checkpointPayloadType, trustedKeys, (value) => parsePayload(checkpointSchema, value, 'checkpoint'));
}

/** Signs a dispatch manifest (its canonical JSON) as a DSSE envelope. */
export function signManifest(manifest: DispatchManifest, signer: SignerV1): Promise<DsseEnvelope> {
  return signEnvelope(manifestPayloadType, canonicalJsonBytes(parsePayload(dispatchManifestSchema, manifest, 'dispatch manifest')), signer);
}

/** Verifies a dispatch manifest envelope against trusted keys and returns the manifest. */
export function openManifest(envelope: DsseEnvelope, trustedKeys: readonly TrustedKey[]): DispatchManifest {
  return openCanonicalPayload(envelope, manifestPayloadType, trustedKeys, (value) => parsePayload(dispatchManifestSchema, value, 'dispatch manifest'));
}

function openCanonicalPayload<T>(envelope: DsseEnvelope, payloadType: string, trustedKeys: readonly TrustedKey[], parse: (value: unknown) => T): T {
  const { payload } = openEnvelope(envelope, payloadType, trustedKeys);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch (error) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `The signed ${payloadType} payload is not JSON.`, { path: '$.payload', cause: error });
  }
  const parsed = parse(value);
  if (Buffer.compare(canonicalJsonBytes(parsed), payload) !== 0) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `The signed ${payloadType} payload is not in canonical JSON form.`, { path: '$.payload' });
  }
  return parsed;
}
