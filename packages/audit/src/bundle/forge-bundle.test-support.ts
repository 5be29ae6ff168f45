// Forgeries a key holder (or anyone with a fresh key) can build from a bundle alone: a new
// history over the same sequence numbers (the leaves of other runs replaced by filler, which no
// verifier of one run can tell apart), re-signed manifests, a re-signed checkpoint and receipts.
import type { AnchorReceipt, AuditEntry, DsseEnvelope, EvidenceBundleV1, PublicKeyRecord, SignerV1, StoredManifest } from '@cairn/core';
import { digestOfJson, sha256Digest } from '@cairn/protocol';
import { anchorEnvelopeDigest, openReceipt, signReceipt } from '../anchor/signed-receipt.ts';
import { signCheckpoint, signManifest } from '../checkpoint/checkpoint-envelope.ts';
import { openStoredManifest } from '../checkpoint/manifest-batch.ts';
import { auditEntryBytes } from '../entries/audit-entry-leaf.ts';
import { MerkleLog } from '../merkle/merkle-log.ts';
import { trustedKeyFrom } from '../dsse/verify-signature.ts';
import { buildEvidenceBundle, readCheckpoint } from './build-evidence-bundle.ts';

export interface Forgery {
  /** The signer of everything re-signed, and the key record put in the bundle. */
  readonly signer: SignerV1;
  readonly record: PublicKeyRecord;
  /** Rewrites the run's entries (after manifests were re-signed, with their new digests). */
  readonly editEntries?: (entries: AuditEntry[]) => AuditEntry[];
  /** Keep the bundle's own keys beside the new one (what still carries their signatures verifies). */
  readonly keepKeys?: boolean;
  /** Re-sign every manifest (with `signer`), rebinding each dispatched entry to its new digest. */
  readonly resignManifests?: boolean;
  /**
   * The receipts: `keep` the bundle's, `strip` them, or a function building the receipt of the
   * new checkpoint (signed with `signer`).
   */
  readonly receipts:
    | 'keep'
    | 'strip'
    | ((
        checkpoint: { origin: string; treeSize: number; rootHash: string; envelopeDigest: AnchorReceipt['envelopeDigest'] },
        previous: AnchorReceipt | undefined,
      ) => AnchorReceipt | Promise<AnchorReceipt>);
}

/** Rebuilds `bundle` as a forger would: a self-consistent bundle signed by `forgery.signer`. */
export async function forgeBundle(bundle: EvidenceBundleV1, previousKeys: readonly PublicKeyRecord[], forgery: Forgery): Promise<EvidenceBundleV1> {
  const checkpoint = readCheckpoint(bundle.checkpoint);
  const previousTrusted = previousKeys.map((record) => trustedKeyFrom(record));
  let entries = bundle.entries.map((entry) => structuredClone(entry) as AuditEntry);
  let manifests: StoredManifest[] = bundle.manifests.map((manifest) => manifest.envelope);
  if (forgery.resignManifests) {
    const renamed = new Map<string, string>();
    manifests = [];
    for (const manifest of bundle.manifests) {
      const envelope = await signManifest(openStoredManifest(manifest.envelope, previousTrusted), forgery.signer);
      renamed.set(manifest.digest, digestOfJson(envelope));
      manifests.push(envelope);
    }
    entries = entries.map((entry) => {
      const named = entry.data['manifestDigest'];
      return typeof named === 'string' && renamed.has(named) ? { ...entry, data: { ...entry.data, manifestDigest: renamed.get(named)! } } : entry;
    });
  }
  if (forgery.editEntries) entries = forgery.editEntries(entries);
  const bySeq = new Map(entries.map((entry) => [entry.seq, entry]));
  const log = MerkleLog.open();
  for (let seq = 0; seq < checkpoint.treeSize; seq++) {
    const entry = bySeq.get(seq);
    log.append(entry ? auditEntryBytes(entry) : new TextEncoder().encode(`filler ${seq}`));
  }
  const rootHash = Buffer.from(log.rootHash()).toString('hex');
  const envelope = await signCheckpoint({ ...checkpoint, rootHash }, forgery.signer);
  let anchors: DsseEnvelope[] = [];
  if (forgery.receipts === 'keep') anchors = [...bundle.anchors];
  else if (forgery.receipts !== 'strip') {
    const previous = bundle.anchors[0] && openReceipt(bundle.anchors[0], previousTrusted);
    const receipt = await forgery.receipts(
      { origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash, envelopeDigest: anchorEnvelopeDigest(envelope) },
      previous,
    );
    anchors = [await signReceipt(receipt, forgery.signer)];
  }
  return buildEvidenceBundle({
    runId: bundle.runId,
    spec: bundle.spec,
    entries,
    proofs: log,
    checkpoint: envelope,
    anchors,
    keys: [forgery.record, ...(forgery.keepKeys ? previousKeys : [])],
    manifests,
  });
}

/** Changes the patch digest of the run's first completed attempt (history rewritten). */
export function rewritePatchDigest(entries: AuditEntry[]): AuditEntry[] {
  let done = false;
  return entries.map((entry) => {
    if (done || entry.action !== 'attempt.completed') return entry;
    done = true;
    const artifacts = entry.data['artifacts'] as Record<string, string>;
    return { ...entry, data: { ...entry.data, artifacts: { ...artifacts, patch: sha256Digest('a patch that never ran') } } };
  });
}
