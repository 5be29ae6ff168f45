import type { Checkpoint, DispatchManifest, DsseEnvelope, SignerV1 } from '@cairn/core';
import { checkpointSchema, dispatchManifestSchema } from '@cairn/protocol';
import type { TrustedKey } from '../dsse/verify-signature.ts';
import { openCanonicalPayload, signCanonicalPayload } from './canonical-payload.ts';

/** DSSE payload type of a signed checkpoint. */
export const checkpointPayloadType = 'application/vnd.cairn.checkpoint+json';
/** DSSE payload type of a signed dispatch manifest. */
export const manifestPayloadType = 'application/vnd.cairn.manifest+json';

/** Signs a checkpoint (its canonical JSON) as a DSSE envelope. */
export function signCheckpoint(checkpoint: Checkpoint, signer: SignerV1): Promise<DsseEnvelope> {
  return signCanonicalPayload(checkpointPayloadType, checkpoint, checkpointSchema, 'checkpoint', signer);
}

/** Verifies a checkpoint envelope against trusted keys and returns the checkpoint. */
export function openCheckpoint(envelope: DsseEnvelope, trustedKeys: readonly TrustedKey[]): Checkpoint {
  return openCanonicalPayload(envelope, checkpointPayloadType, trustedKeys, checkpointSchema, 'checkpoint');
}

/** Signs a dispatch manifest (its canonical JSON) as a DSSE envelope. */
export function signManifest(manifest: DispatchManifest, signer: SignerV1): Promise<DsseEnvelope> {
  return signCanonicalPayload(manifestPayloadType, manifest, dispatchManifestSchema, 'dispatch manifest', signer);
}

/** Verifies a dispatch manifest envelope against trusted keys and returns the manifest. */
export function openManifest(envelope: DsseEnvelope, trustedKeys: readonly TrustedKey[]): DispatchManifest {
  return openCanonicalPayload(envelope, manifestPayloadType, trustedKeys, dispatchManifestSchema, 'dispatch manifest');
}
