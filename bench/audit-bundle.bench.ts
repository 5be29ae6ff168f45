// Verifying a run's evidence: the cost a reviewer pays, for a run of 10,000 entries (as bytes,
// the way `cairn verify` reads a file) and of 1,000,000 entries (as a parsed value: 250 MB of
// JSON text is read by streaming in practice, and the goal is about the verification itself).
import { generateKeyPairSync, sign } from 'node:crypto';
import type { AuditEntry, PublicKeyRecord, SignerV1 } from '@cairn/core';
import { auditEntryBytes, buildEvidenceBundle, keyIdOf, MerkleLog, serializeEvidenceBundle, signCheckpoint, verifyBundle } from '@cairn/audit';
import { digestOfJson } from '@cairn/protocol';
import { atMost, recorded, wallAndCpu, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

function benchSigner(): { signer: SignerV1; record: PublicKeyRecord } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const record: PublicKeyRecord = { keyId: keyIdOf(der), algorithm: 'ed25519', publicKey: Buffer.from(der).toString('base64') };
  const signer: SignerV1 = {
    specificationVersion: 'v1',
    provider: 'bench',
    algorithm: 'ed25519',
    keyId: async () => record.keyId,
    publicKey: async () => der,
    sign: async (message) => new Uint8Array(sign(null, message, privateKey)),
  };
  return { signer, record };
}

/** What one item's entries say: it became ready, attempts ran (the lost ones retried), and it ended. */
function itemEntries(itemId: string, count: number): Pick<AuditEntry, 'action' | 'entity' | 'data'>[] {
  const item = { kind: 'item' as const, id: `r1/${itemId}` };
  const entries: Pick<AuditEntry, 'action' | 'entity' | 'data'>[] = [{ action: 'item.ready', entity: item, data: {} }];
  const attemptEntries = count - 2;
  for (let index = 0; index < attemptEntries; index++) {
    const attempt = Math.floor(index / 2) + 1;
    entries.push({
      action: index % 2 === 0 ? 'attempt.started' : 'attempt.lost',
      entity: { kind: 'attempt', id: `r1/${itemId}/${attempt}` },
      data: { attempt, itemId },
    });
  }
  // An item whose last attempt was lost failed; one whose last attempt started succeeded.
  entries.push({ action: attemptEntries % 2 === 0 ? 'item.failed' : 'item.succeeded', entity: item, data: {} });
  return entries;
}

/**
 * A signed bundle of one run of `entryCount` entries that the real verifier accepts: run.submitted
 * naming the spec, run.started, then each of the spec's items (up to 1,000 of them) from ready
 * through its attempts to its end, and run.succeeded. Every check that reads entries (order,
 * completeness against the spec's graph, inclusion) then does its full work on every entry.
 */
export async function runBundle(entryCount: number) {
  if (entryCount < 6) throw new Error(`a bench bundle needs at least 6 entries, not ${entryCount}`);
  const { signer, record } = benchSigner();
  const body = entryCount - 3;
  const itemCount = Math.min(1_000, Math.floor(body / 3));
  const itemIds = Array.from({ length: itemCount }, (_, index) => `item-${String(index).padStart(4, '0')}`);
  const spec = { version: 1 as const, name: 'bench', items: itemIds.map((id) => ({ id, runtime: { kind: 'command' as const, argv: ['true'] } })) };
  const log = MerkleLog.open();
  const entries: AuditEntry[] = [];
  const append = (action: AuditEntry['action'], entity: AuditEntry['entity'], data: AuditEntry['data']) => {
    const entry: AuditEntry = {
      seq: log.size,
      time: '2026-11-22T10:00:00.000Z',
      actor: { kind: 'system', id: 'engine', via: 'engine' },
      action,
      entity,
      outcome: 'success',
      runId: 'r1',
      runSeq: entries.length,
      data,
    };
    log.append(auditEntryBytes(entry));
    entries.push(entry);
  };
  const run = { kind: 'run' as const, id: 'r1' };
  append('run.submitted', run, { specDigest: digestOfJson(spec) });
  append('run.started', run, {});
  for (const [index, itemId] of itemIds.entries()) {
    const count = Math.floor(body / itemCount) + (index < body % itemCount ? 1 : 0);
    for (const entry of itemEntries(itemId, count)) append(entry.action, entry.entity, entry.data);
  }
  append('run.succeeded', run, {});
  const checkpoint = await signCheckpoint(
    { origin: 'cairn:bench', treeSize: log.size, rootHash: Buffer.from(log.rootHash()).toString('hex'), time: '2026-11-22T10:00:00.000Z' },
    signer,
  );
  const bundle = buildEvidenceBundle({ runId: 'r1', spec, entries, proofs: log, checkpoint, anchors: [], keys: [record], manifests: [] });
  return { bundle, record };
}

/** Verifies a bundle and throws, naming the first check that did not pass, unless it is `verified`. */
async function verifiedOrThrow(bundle: unknown, record: PublicKeyRecord, what: string): Promise<void> {
  const report = await verifyBundle(bundle, { trustedKeys: [record] });
  if (report.valid) return;
  const failed = report.checks.find((check) => check.status === 'fail');
  throw new Error(`the ${what} bundle did not verify (${report.verdict}): ${failed ? `${failed.name}: ${failed.detail}` : 'no check failed'}`);
}

/** The sizes the bench verifies; the bench's own test runs it small. */
export interface BundleBenchSizes {
  readonly small: number;
  readonly large: number;
}

const benchSizes: BundleBenchSizes = { small: 10_000, large: 1_000_000 };

export default async function bundleBenchmarks({ log }: BenchmarkContext, sizes: BundleBenchSizes = benchSizes): Promise<BenchmarkRow[]> {
  const label = (count: number) => count.toLocaleString('en-US');
  log(`  verifying a ${label(sizes.small)}-entry bundle`);
  const small = await runBundle(sizes.small);
  const bytes = serializeEvidenceBundle(small.bundle);
  const verifySmall = await wallAndCpu(() => verifiedOrThrow(bytes, small.record, `${label(sizes.small)}-entry`));
  log(`  building and verifying a ${label(sizes.large)}-entry bundle`);
  const built = await runBundle(sizes.large);
  // As a verifier gets it: parsed from the canonical document (the 250 MB text itself would be
  // streamed; JSON.parse time is not the verifier's).
  const large = { record: built.record, bundle: JSON.parse(new TextDecoder().decode(serializeEvidenceBundle(built.bundle))) as unknown };
  // The CPU beside the wall, this thread's and the process's (every thread): the checks and the
  // entries' texts run here, the leaves' hashing and the tree's walk on a worker meanwhile. On a
  // loaded machine the wall follows the neighbours; these say what the verifier itself costs.
  const mainThread = process.threadCpuUsage();
  const verifyLarge = await wallAndCpu(() => verifiedOrThrow(large.bundle, large.record, `${label(sizes.large)}-entry`));
  const mainThreadUsed = process.threadCpuUsage(mainThread);
  return [
    recorded(`audit.bundle-verify-${sizes.small}`, Math.round(verifySmall.wallMs), 'ms'),
    recorded(`audit.bundle-verify-${sizes.small}.cpu`, Math.round(verifySmall.cpuMs), 'ms'),
    recorded(`audit.bundle-size-${sizes.small}`, Math.round(bytes.byteLength / 1024), 'KiB'),
    atMost(`audit.bundle-verify-${sizes.large}`, Math.round(verifyLarge.wallMs), 'ms', 3000),
    recorded(`audit.bundle-verify-${sizes.large}.cpu`, Math.round(verifyLarge.cpuMs), 'ms'),
    recorded(`audit.bundle-verify-${sizes.large}.main-thread-cpu`, Math.round((mainThreadUsed.user + mainThreadUsed.system) / 1000), 'ms'),
  ];
}
