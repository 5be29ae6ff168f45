import type {
  AuditEntry,
  BundleArtifact,
  BundleFragment,
  BundleManifest,
  Checkpoint,
  DsseEnvelope,
  EvidenceBundleV1,
  PublicKeyRecord,
  RunSpecV1,
  StoredManifest,
} from '@cairn/core';
import {
  CairnError,
  canonicalJson,
  canonicalJsonBytes,
  checkpointSchema,
  digestOfJson,
  keyDelegationSchema,
  parsePayload,
  sha256Digest,
} from '@cairn/protocol';
import { decodeBase64Strict, encodeBase64 } from '../dsse/base64.ts';
import { completedArtifacts, dispatchedManifest, modelCallArtifacts } from '../entries/entry-data.ts';

/** What answers multiproofs for a past tree size: a `MerkleLog`, or the engine's log. */
export interface MultiproofSource {
  multiInclusionProof(leafIndexes: readonly number[], treeSize: number): Uint8Array[];
}

export interface EvidenceBundleInput {
  readonly runId: string;
  readonly spec: RunSpecV1;
  /** Every entry of the run (any order), all covered by `checkpoint`. */
  readonly entries: readonly AuditEntry[];
  readonly proofs: MultiproofSource;
  /** The signed checkpoint the proofs are made against. */
  readonly checkpoint: DsseEnvelope;
  /** Signed receipts of that checkpoint (`signReceipt`). */
  readonly anchors: readonly DsseEnvelope[];
  readonly keys: readonly PublicKeyRecord[];
  /** The signed dispatch manifests of the run's attempts, as stored. */
  readonly manifests: readonly StoredManifest[];
  /** Delegation statements of the keys that signed manifests in place of a key of `keys`. */
  readonly delegations?: readonly DsseEnvelope[];
  /** An RFC 3161 timestamp token (DER) over the checkpoint envelope. */
  readonly timestampToken?: Uint8Array;
  /** The fragments the run's `run.extended` entries name (its planners' outputs, parsed). */
  readonly fragments?: readonly BundleFragment[];
}

/**
 * Assembles the evidence bundle of one run. Deterministic: every list has one order (entries by
 * runSeq, manifests and keys by digest, delegation statements by the delegate's key id, artifacts and receipts by their canonical JSON), so the
 * same run always exports the same bytes (`serializeEvidenceBundle`). Throws CAIRN_BUNDLE_INVALID
 * when the evidence is incomplete: an entry the checkpoint does not cover yet, or a manifest an
 * entry names but the input lacks.
 */
export function buildEvidenceBundle(input: EvidenceBundleInput): EvidenceBundleV1 {
  const checkpoint = readCheckpoint(input.checkpoint);
  const entries = [...input.entries].sort((a, b) => (a.runSeq ?? -1) - (b.runSeq ?? -1));
  const uncovered = entries.find((entry) => entry.seq >= checkpoint.treeSize);
  if (uncovered) {
    throw new CairnError(
      'CAIRN_BUNDLE_INVALID',
      `Entry ${uncovered.seq} of run ${input.runId} is not covered by the checkpoint of size ${checkpoint.treeSize}; issue a checkpoint first.`,
    );
  }
  const leafIndexes = entries.map((entry) => entry.seq).sort((a, b) => a - b);
  const inclusionProof = input.proofs.multiInclusionProof(leafIndexes, checkpoint.treeSize).map((hash) => Buffer.from(hash).toString('hex'));

  const manifestsByDigest = new Map(input.manifests.map((envelope) => [sha256Digest(canonicalJsonBytes(envelope)), envelope]));
  const manifests: BundleManifest[] = [];
  const artifacts: BundleArtifact[] = [];
  for (const entry of entries) {
    const dispatched = dispatchedManifest(entry);
    if (dispatched) {
      const envelope = manifestsByDigest.get(dispatched.manifestDigest);
      if (!envelope) throw new CairnError('CAIRN_BUNDLE_INVALID', `Entry ${entry.seq} names manifest ${dispatched.manifestDigest}, which was not given.`);
      manifests.push({ digest: dispatched.manifestDigest, envelope });
    }
    const completed = completedArtifacts(entry);
    if (completed) for (const artifact of completed.artifacts) artifacts.push({ ...artifact, itemId: completed.itemId, attempt: completed.attempt });
    // A model call's request and response bodies, named by its `model.called` entry.
    const called = modelCallArtifacts(entry);
    if (called) for (const artifact of called.artifacts) artifacts.push({ ...artifact, itemId: called.itemId, attempt: called.attempt });
  }
  return {
    format: 'cairn.bundle/v1',
    runId: input.runId,
    spec: input.spec,
    specDigest: digestOfJson(input.spec),
    checkpoint: input.checkpoint,
    entries,
    inclusionProof,
    anchors: sortedUnique(input.anchors, canonicalJson),
    keys: sortedUnique(input.keys, (key) => key.keyId),
    manifests: sortedUnique(manifests, (manifest) => manifest.digest),
    artifacts: sortedUnique(artifacts, canonicalJson),
    ...(input.delegations && input.delegations.length > 0 ? { delegations: sortedUnique(input.delegations, delegateKeyIdOf) } : {}),
    ...(input.fragments && input.fragments.length > 0 ? { fragments: sortedUnique(input.fragments, (fragment) => fragment.digest) } : {}),
    ...(input.timestampToken ? { timestamp: { token: encodeBase64(input.timestampToken) } } : {}),
  };
}

// The key a statement delegates to, read without verifying (the verifier checks it): its order key.
function delegateKeyIdOf(envelope: DsseEnvelope): string {
  const payload = decodeBase64Strict(envelope.payload);
  try {
    return parsePayload(keyDelegationSchema, payload && JSON.parse(new TextDecoder().decode(payload)), 'key delegation').delegate.keyId;
  } catch (error) {
    throw new CairnError('CAIRN_BUNDLE_INVALID', 'A delegation statement given for the bundle is not a key delegation.', { cause: error });
  }
}

/** The bundle's bytes: its canonical JSON, the form the verifier insists on. */
export function serializeEvidenceBundle(bundle: EvidenceBundleV1): Uint8Array {
  return canonicalJsonBytes(bundle);
}

/** The checkpoint inside an envelope, read without verifying (the builder signed it itself). */
export function readCheckpoint(envelope: DsseEnvelope): Checkpoint {
  const payload = decodeBase64Strict(envelope.payload);
  let value: unknown;
  try {
    value = payload && JSON.parse(new TextDecoder().decode(payload));
  } catch {
    value = undefined;
  }
  return parsePayload(checkpointSchema, value, 'checkpoint envelope payload');
}

/** One copy of each value, ordered by `key` (code-unit order, as canonical JSON sorts). */
export function sortedUnique<T>(values: readonly T[], key: (value: T) => string): T[] {
  const byKey = new Map(values.map((value) => [key(value), value]));
  return [...byKey.keys()].sort().map((name) => byKey.get(name)!);
}
