import type { AuditEntry } from './audit-entry.ts';
import type { DsseEnvelope } from './checkpoint.ts';
import type { Digest } from './digest.ts';
import type { JsonValue } from './json.ts';
import type { StoredManifest } from './dispatch-manifest.ts';
import type { RunSpecV1 } from './run-spec.ts';
import type { PublicKeyRecord } from './signature.ts';

/** A dispatch manifest of the run: its signed envelope, addressed by digest. */
export interface BundleManifest {
  /** sha256 of the stored manifest's canonical JSON; named by an `attempt.dispatched` entry. */
  readonly digest: Digest;
  /** The manifest as stored: its DSSE envelope, or the manifest with its batch (ADR 0026). */
  readonly envelope: StoredManifest;
}

/**
 * What an artifact of the run is: `patch`, `stdout`, `stderr` and `output` are named by an
 * `attempt.completed` entry, `model-request` and `model-response` (a model call's bodies) by a
 * `model.called` entry.
 */
export type BundleArtifactKind =
  'patch' | 'stdout' | 'stderr' | 'output' | 'egress' | 'environment-log' | 'environment-egress' | 'model-request' | 'model-response';

export interface BundleArtifact {
  readonly digest: Digest;
  readonly kind: BundleArtifactKind;
  readonly itemId: string;
  readonly attempt: number;
}

/**
 * A fragment a run grew by (ADR 0034), as its `run.extended` entry names it: a planner's output
 * (its `items`, a run-spec fragment), or the output a `forEach` item mapped over; its canonical
 * JSON hashes to `digest`.
 */
export interface BundleFragment {
  readonly digest: Digest;
  readonly fragment: JsonValue;
}

/**
 * The evidence of one run (`cairn.bundle/v1`): a single canonical JSON document anyone can
 * verify offline. Everything in it is bound to something verified — entries by inclusion proofs
 * under a signed checkpoint, manifests and artifacts by digests named in those entries, anchor
 * receipts by the log key's signature and the checkpoint they name, keys by their own digest —
 * so no part of it is decoration. Exported deterministically: the same run gives the same bytes.
 */
export interface EvidenceBundleV1 {
  readonly format: 'cairn.bundle/v1';
  readonly runId: string;
  readonly spec: RunSpecV1;
  /** digest of the spec's canonical JSON; named by the `run.submitted` entry. */
  readonly specDigest: Digest;
  /** The signed checkpoint every proof is against. */
  readonly checkpoint: DsseEnvelope;
  /**
   * The run's entries in `runSeq` order, complete from `run.submitted` to its terminal entry.
   * Each entry's leaf index in the log is its `seq`.
   */
  readonly entries: readonly AuditEntry[];
  /**
   * One inclusion proof for all entries at once (a multiproof, docs/audit/formats.md): the hashes
   * of the maximal subtrees that hold none of the entries, left to right, lowercase hex. With the
   * entries' leaves they recompute the checkpoint's root; shared nodes appear once, so the proof
   * of a run's 10,000 entries is far smaller than 10,000 separate proofs.
   */
  readonly inclusionProof: readonly string[];
  /** Anchor receipts of the checkpoint, each a DSSE envelope signed by the log key. */
  readonly anchors: readonly DsseEnvelope[];
  /**
   * Public keys that signed the checkpoint, the receipts, the delegation statements and the
   * manifests signed directly (a delegated key's record travels in its statement instead).
   */
  readonly keys: readonly PublicKeyRecord[];
  readonly manifests: readonly BundleManifest[];
  /**
   * Delegation statements (payload `KeyDelegation`) of the keys that signed manifests in place of
   * the checkpoint key, ordered by the delegate's key id; absent when every manifest is signed
   * directly. Each must verify under a trusted key: the bundle alone never vouches for a delegate.
   */
  readonly delegations?: readonly DsseEnvelope[];
  readonly artifacts: readonly BundleArtifact[];
  /**
   * The fragments its planners added, one per `run.extended` entry, ordered by digest; absent when
   * the run did not grow. With the spec they are the whole graph: completeness checks the entries
   * name no other item and every item of them ended.
   */
  readonly fragments?: readonly BundleFragment[];
  /** An RFC 3161 timestamp token (base64 DER) over the checkpoint envelope, when one was taken. */
  readonly timestamp?: { readonly token: string };
}
