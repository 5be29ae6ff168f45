// What a forger builds from a server's evidence bundle, with public @cairn/audit functions only: a
// history rewritten over the same sequence numbers (other runs' leaves replaced by filler, which
// no verifier of one run can tell apart), re-signed manifests, checkpoint and receipts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnchorReceipt, AuditEntry, DsseEnvelope, EvidenceBundleV1, PublicKeyRecord, SignerV1, StoredManifest } from '@cairn/core';
import {
  anchorEnvelopeBytes,
  anchorEnvelopeDigest,
  auditEntryBytes,
  buildEvidenceBundle,
  MerkleLog,
  openStoredManifest,
  openReceipt,
  readCheckpoint,
  signCheckpoint,
  signManifest,
  signReceipt,
  trustedKeyFrom,
} from '@cairn/audit';
import { canonicalJson, digestOfJson, sha256Digest } from '@cairn/protocol';

export interface ServerForgery {
  readonly signer: SignerV1;
  readonly record: PublicKeyRecord;
  /** Keep the bundle's own keys beside the new one. */
  readonly keepKeys?: boolean;
  readonly resignManifests?: boolean;
  readonly rewriteHistory?: boolean;
  /** `strip` the receipts, or the receipt to sign, from the bundle's first one moved onto the new checkpoint. */
  readonly receipts: 'strip' | ((base: AnchorReceipt, checkpoint: DsseEnvelope) => AnchorReceipt);
}

export async function forgeServerBundle(
  bundle: EvidenceBundleV1,
  serverKey: PublicKeyRecord,
  forgery: ServerForgery,
): Promise<{ bundle: EvidenceBundleV1; receipt?: AnchorReceipt }> {
  const checkpoint = readCheckpoint(bundle.checkpoint);
  const trusted = [trustedKeyFrom(serverKey)];
  let entries = bundle.entries.map((entry) => structuredClone(entry) as AuditEntry);
  let manifests: StoredManifest[] = bundle.manifests.map((manifest) => manifest.envelope);
  if (forgery.resignManifests) {
    const renamed = new Map<string, string>();
    manifests = [];
    for (const manifest of bundle.manifests) {
      const envelope = await signManifest(openStoredManifest(manifest.envelope, trusted), forgery.signer);
      renamed.set(manifest.digest, digestOfJson(envelope));
      manifests.push(envelope);
    }
    entries = entries.map((entry) => {
      const named = entry.data['manifestDigest'];
      return typeof named === 'string' && renamed.has(named) ? { ...entry, data: { ...entry.data, manifestDigest: renamed.get(named)! } } : entry;
    });
  }
  if (forgery.rewriteHistory) {
    let done = false;
    entries = entries.map((entry) => {
      if (done || entry.action !== 'attempt.completed') return entry;
      done = true;
      return { ...entry, data: { ...entry.data, artifacts: { ...(entry.data['artifacts'] as object), patch: sha256Digest('a patch that never ran') } } };
    });
    if (!done) throw new Error('the bundle has no attempt.completed entry to rewrite');
  }
  const bySeq = new Map(entries.map((entry) => [entry.seq, entry]));
  const log = MerkleLog.open();
  for (let seq = 0; seq < checkpoint.treeSize; seq++) {
    const entry = bySeq.get(seq);
    log.append(entry ? auditEntryBytes(entry) : new TextEncoder().encode(`filler ${seq}`));
  }
  const rootHash = Buffer.from(log.rootHash()).toString('hex');
  const envelope = await signCheckpoint({ ...checkpoint, rootHash }, forgery.signer);
  let receipt: AnchorReceipt | undefined;
  if (forgery.receipts !== 'strip') {
    const previous = openReceipt(bundle.anchors[0]!, trusted);
    receipt = forgery.receipts(
      { ...previous, origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash, envelopeDigest: anchorEnvelopeDigest(envelope) },
      envelope,
    );
  }
  const anchors = receipt ? [await signReceipt(receipt, forgery.signer)] : [];
  const forged = buildEvidenceBundle({
    runId: bundle.runId,
    spec: bundle.spec,
    entries,
    proofs: log,
    checkpoint: envelope,
    anchors,
    keys: [forgery.record, ...(forgery.keepKeys ? [serverKey] : [])],
    manifests,
  });
  return { bundle: forged, ...(receipt ? { receipt } : {}) };
}

/**
 * Writes a checkpoint into a (copied) file anchor folder the way the local anchor lays it out
 * (`<origin folder>/<size>-<digest>.dsse`, `<size>.receipt.json`, `anchored.jsonl`), with
 * whatever receipt the forger chooses (given the envelope's path for its `location`); returns it.
 */
export function writeForgedFileAnchor(directory: string, envelope: DsseEnvelope, receipt: (location: string) => AnchorReceipt): AnchorReceipt {
  const checkpoint = readCheckpoint(envelope);
  const folder = join(directory, encodeURIComponent(checkpoint.origin).replaceAll('.', '%2E'));
  mkdirSync(folder, { recursive: true });
  const size = String(checkpoint.treeSize).padStart(20, '0');
  const location = join(folder, `${size}-${anchorEnvelopeDigest(envelope).slice('sha256:'.length)}.dsse`);
  writeFileSync(location, anchorEnvelopeBytes(envelope));
  const written = receipt(location);
  const text = canonicalJson(written);
  writeFileSync(join(folder, `${size}.receipt.json`), text);
  writeFileSync(join(folder, 'anchored.jsonl'), `${text}\n`);
  return written;
}
