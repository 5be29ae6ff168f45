import type { BatchedManifest, DispatchManifest, DsseEnvelope, DsseSignature, ManifestBatch, SignerV1, StoredManifest } from '@cairn/core';
import { CairnError, canonicalJsonBytes, dispatchManifestSchema, manifestBatchSchema, parsePayload } from '@cairn/protocol';
import { decodeBase64Strict, encodeBase64 } from '../dsse/base64.ts';
import type { TrustedKey } from '../dsse/verify-signature.ts';
import { leafHash, nodeHash } from '../merkle/merkle-hash.ts';
import { splitPoint } from '../merkle/merkle-math.ts';
import { verifyInclusion } from '../merkle/verify-inclusion.ts';
import { openCanonicalPayload, parseCanonicalPayload, signCanonicalPayload } from './canonical-payload.ts';
import { signEnvelope } from '../dsse/dsse-envelope.ts';
import { manifestPayloadType, openManifest } from './checkpoint-envelope.ts';

/** DSSE payload type of a signed manifest batch: never a manifest's own type, so neither passes for the other. */
export const manifestBatchPayloadType = 'application/vnd.cairn.manifest-batch+json';

/** How `signManifests` treats the manifests it is given. */
export interface SignManifestsOptions {
  /**
   * The caller built every manifest from parts it checked (the engine: a run spec validated at
   * submit, and fields of its own making) and vouches for their shape, so they are not parsed
   * against the schema again here: that parse cost about 20 µs a manifest, a fifth of what a hop
   * of a chain spends signing. What a signature vouches for is unchanged: a worker or
   * a verifier parses each manifest it opens, whatever the signer did.
   */
  readonly prevalidated?: boolean;
}

/**
 * Signs the manifests of one dispatch pass (ADR 0026), returned as stored, in order. One manifest
 * is signed alone, as a DSSE envelope; two or more are signed once: a batch statement of the RFC
 * 6962 tree hash of their leaves (SHA-256(0x00 ‖ canonical JSON)), each stored with the statement's
 * envelope, its place and its inclusion proof. Each manifest is checked against its schema first,
 * unless the caller vouches for them (`prevalidated`).
 */
export async function signManifests(
  manifests: readonly DispatchManifest[],
  signer: SignerV1,
  { prevalidated = false }: SignManifestsOptions = {},
): Promise<StoredManifest[]> {
  const payloadOf = (manifest: DispatchManifest) =>
    canonicalJsonBytes(prevalidated ? manifest : parsePayload(dispatchManifestSchema, manifest, 'dispatch manifest'));
  if (manifests.length === 1) return [await signEnvelope(manifestPayloadType, payloadOf(manifests[0]!), signer)];
  if (manifests.length === 0) return [];
  const payloads = manifests.map(payloadOf);
  const proofs: Uint8Array[][] = payloads.map(() => []);
  const root = treeHash(payloads.map(leafHash), 0, proofs);
  const statement: ManifestBatch = { version: 'cairn.manifest-batch/v1', size: payloads.length, root: encodeBase64(root) };
  const batch = await signCanonicalPayload(manifestBatchPayloadType, statement, manifestBatchSchema, 'manifest batch', signer);
  return payloads.map((payload, index) => ({ batch, index, manifest: encodeBase64(payload), proof: proofs[index]!.map(encodeBase64) }));
}

/**
 * Verifies a stored manifest against trusted keys and returns the manifest: a DSSE envelope of it,
 * or a batched manifest whose batch envelope verifies, whose inclusion proof leads from its leaf to
 * the signed root at its index, and whose bytes are the canonical JSON of a valid manifest. Throws
 * CAIRN_SIGNATURE_INVALID (a signature, or a proof, that does not hold) or CAIRN_PAYLOAD_INVALID.
 */
export function openStoredManifest(stored: StoredManifest, trustedKeys: readonly TrustedKey[]): DispatchManifest {
  if (!isBatched(stored)) return openManifest(stored, trustedKeys);
  const statement = openCanonicalPayload(stored.batch, manifestBatchPayloadType, trustedKeys, manifestBatchSchema, 'manifest batch');
  const payload = decodeBase64Strict(stored.manifest);
  if (payload === undefined) throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The batched manifest is not canonical base64.', { path: '$.manifest' });
  const proof = stored.proof.map((hash) => decodeBase64Strict(hash));
  const root = decodeBase64Strict(statement.root);
  const holds =
    root !== undefined &&
    proof.every((hash) => hash !== undefined) &&
    verifyInclusion(stored.index, statement.size, leafHash(payload), proof as Uint8Array[], root);
  if (!holds) {
    throw new CairnError(
      'CAIRN_SIGNATURE_INVALID',
      `The manifest is not leaf ${stored.index} of the signed batch of ${statement.size}: its inclusion proof does not lead to the batch's root.`,
      { path: '$.proof' },
    );
  }
  return parseCanonicalPayload(payload, dispatchManifestSchema, 'dispatch manifest', '$.manifest');
}

/** The signed envelope that vouches for a stored manifest: its own, or its batch's. */
export function storedManifestEnvelope(stored: StoredManifest): DsseEnvelope {
  return isBatched(stored) ? stored.batch : stored;
}

/** The signatures that vouch for a stored manifest: its envelope's, or its batch's. */
export function storedManifestSignatures(stored: StoredManifest): readonly DsseSignature[] {
  return storedManifestEnvelope(stored).signatures;
}

/** The base64 canonical JSON a stored manifest holds, unverified: for reports, never to act on. */
export function storedManifestPayload(stored: StoredManifest): string {
  return isBatched(stored) ? stored.manifest : stored.payload;
}

/** Whether the stored manifest was signed with its pass (ADR 0026). */
export function isBatched(stored: StoredManifest): stored is BatchedManifest {
  return 'batch' in stored;
}

/**
 * The RFC 6962 tree hash of `leaves` (at least one), the leaf at `leaves[i]` being leaf
 * `first + i` of the batch; adds to each leaf's proof the sibling hashes on its way up, deepest
 * first (RFC 9162 section 2.1.3.1): n − 1 node hashes for all the proofs at once.
 */
function treeHash(leaves: readonly Uint8Array[], first: number, proofs: Uint8Array[][]): Uint8Array {
  if (leaves.length === 1) return leaves[0]!;
  const split = splitPoint(leaves.length);
  const left = treeHash(leaves.slice(0, split), first, proofs);
  const right = treeHash(leaves.slice(split), first + split, proofs);
  for (let index = 0; index < leaves.length; index++) proofs[first + index]!.push(index < split ? right : left);
  return nodeHash(left, right);
}
