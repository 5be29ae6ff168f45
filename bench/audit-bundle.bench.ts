// Verifying a run's evidence: the cost a reviewer pays, for a run of 10,000 entries (as bytes,
// the way `cairn verify` reads a file) and of 1,000,000 entries (as a parsed value: 250 MB of
// JSON text is read by streaming in practice, and the goal is about the verification itself).
import { generateKeyPairSync, sign } from 'node:crypto';
import type { AuditEntry, PublicKeyRecord, SignerV1 } from '@cairn/core';
import { auditEntryBytes, buildEvidenceBundle, keyIdOf, MerkleLog, serializeEvidenceBundle, signCheckpoint, verifyBundle } from '@cairn/audit';
import { digestOfJson } from '@cairn/protocol';
import { atMost, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

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

async function runBundle(entryCount: number) {
  const { signer, record } = benchSigner();
  const spec = { version: 1 as const, name: 'bench', items: [{ id: 'a', runtime: { kind: 'command' as const, argv: ['true'] } }] };
  const log = MerkleLog.open();
  const entries: AuditEntry[] = [];
  for (let runSeq = 0; runSeq < entryCount; runSeq++) {
    const action = runSeq === 0 ? 'run.submitted' : runSeq === entryCount - 1 ? 'run.succeeded' : 'item.ready';
    const entry: AuditEntry = {
      seq: log.size,
      time: '2026-11-22T10:00:00.000Z',
      actor: { kind: 'system', id: 'engine', via: 'engine' },
      action,
      entity: { kind: 'run', id: 'r1' },
      outcome: 'success',
      runId: 'r1',
      runSeq,
      data: runSeq === 0 ? { specDigest: digestOfJson(spec) } : { n: runSeq },
    };
    log.append(auditEntryBytes(entry));
    entries.push(entry);
  }
  const checkpoint = await signCheckpoint(
    { origin: 'cairn:bench', treeSize: log.size, rootHash: Buffer.from(log.rootHash()).toString('hex'), time: '2026-11-22T10:00:00.000Z' },
    signer,
  );
  const bundle = buildEvidenceBundle({ runId: 'r1', spec, entries, proofs: log, checkpoint, anchors: [], keys: [record], manifests: [] });
  return { bundle, record };
}

export default async function bundleBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log('  verifying a 10,000-entry bundle');
  const small = await runBundle(10_000);
  const bytes = serializeEvidenceBundle(small.bundle);
  let valid = false;
  const verifySmall = await timeMilliseconds(async () => {
    valid = (await verifyBundle(bytes, { trustedKeys: [small.record] })).valid;
  });
  if (!valid) throw new Error('the 10,000-entry bundle did not verify');
  log('  building and verifying a 1,000,000-entry bundle');
  const built = await runBundle(1_000_000);
  // As a verifier gets it: parsed from the canonical document (the 250 MB text itself would be
  // streamed; JSON.parse time is not the verifier's).
  const large = { record: built.record, bundle: JSON.parse(new TextDecoder().decode(serializeEvidenceBundle(built.bundle))) };
  const verifyLarge = await timeMilliseconds(async () => {
    valid = (await verifyBundle(large.bundle, { trustedKeys: [large.record] })).valid;
  });
  if (!valid) throw new Error('the 1,000,000-entry bundle did not verify');
  return [
    recorded('audit.bundle-verify-10000', Math.round(verifySmall), 'ms'),
    recorded('audit.bundle-size-10000', Math.round(bytes.byteLength / 1024), 'KiB'),
    atMost('audit.bundle-verify-1000000', Math.round(verifyLarge), 'ms', 3000),
  ];
}
