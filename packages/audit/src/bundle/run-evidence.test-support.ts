// A real run's evidence, end to end, for bundle tests: entries of this run interleaved with
// another run's in one Merkle log, a signed manifest, a signed checkpoint anchored through a
// conformance-proven AuditAnchorV1, a signed receipt, and the exported bundle.
import type { AuditAction, AuditEntry, DsseEnvelope, JsonObject, RunSpecV1, SignatureAlgorithm, StoredManifest } from '@cairn/core';
import { createInMemoryAuditAnchor, type InMemoryAuditAnchor } from '@cairn/conformance/mocks';
import { digestOfJson, sha256Digest } from '@cairn/protocol';
import { anchorEnvelopeBytes, signReceipt } from '../anchor/signed-receipt.ts';
import { signCheckpoint, signManifest } from '../checkpoint/checkpoint-envelope.ts';
import { signKeyDelegation } from '../checkpoint/key-delegation-envelope.ts';
import { manifestOf } from '../checkpoint/dispatch-manifest.test-support.ts';
import { signManifests } from '../checkpoint/manifest-batch.ts';
import { createTestSigner, type TestSigner } from '../dsse/test-signer.test-support.ts';
import { auditEntryBytes } from '../entries/audit-entry-leaf.ts';
import { MerkleLog } from '../merkle/merkle-log.ts';
import { buildEvidenceBundle, serializeEvidenceBundle } from './build-evidence-bundle.ts';
import type { EvidenceBundleV1 } from '@cairn/core';

export interface RunEvidence {
  readonly bundle: EvidenceBundleV1;
  readonly bytes: Uint8Array;
  readonly signer: TestSigner;
  readonly anchor: InMemoryAuditAnchor;
  readonly log: MerkleLog;
  /** Every entry appended, of all runs, by seq. */
  readonly allEntries: readonly AuditEntry[];
  /** The checkpoint envelope of an earlier tree size, validly signed. */
  readonly olderCheckpoint: DsseEnvelope;
  /** With `delegate`: the key that signed the manifests, and its statement signed by `signer`. */
  readonly delegate?: TestSigner;
  readonly delegation?: DsseEnvelope;
  /** The content of every artifact the run's entries name, by digest (what `readArtifact` reads). */
  readonly blobs: ReadonlyMap<string, Uint8Array>;
  /** Rebuilds this run's bundle (to show exports are deterministic). */
  rebuild(): EvidenceBundleV1;
}

/** The spec of a run of `itemIds` (each as the first, `edit`, is): the graph its entries are about. */
const spec = (name: string, itemIds: readonly string[] = ['edit']): RunSpecV1 => ({
  version: 1,
  name,
  items: itemIds.map((id) => ({ id, runtime: { kind: 'command', argv: ['node', 'edit.js'] } })),
});
const time = (seq: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, seq)).toISOString();

export async function createRunEvidence(
  options: {
    algorithm?: SignatureAlgorithm;
    runId?: string;
    otherRunId?: string;
    extraItems?: number;
    delegate?: boolean;
    batchManifests?: boolean;
    /**
     * How many model calls (0 to 3) each item of the run makes through the gateway between its
     * dispatch and its end, in this order: one answered (usage and cost known, a response), one
     * that failed mid-stream (usage unknown), one the gateway denied (never sent, no response).
     */
    modelCalls?: number;
  } = {},
): Promise<RunEvidence> {
  const signer = createTestSigner(options.algorithm);
  // As the engine delegates: an Ed25519 key signs the manifests, vouched for once by the log key.
  const delegate = options.delegate ? createTestSigner('ed25519') : undefined;
  const delegation = delegate
    ? await signKeyDelegation({ delegate: delegate.record, purpose: 'dispatch-manifest', delegatedBy: signer.record.keyId, issuedAt: time(0) }, signer.signer)
    : undefined;
  const log = MerkleLog.open();
  const allEntries: AuditEntry[] = [];
  const runSeqs = new Map<string, number>();
  const blobs = new Map<string, Uint8Array>();
  const stored = (text: string) => {
    const bytes = new TextEncoder().encode(text);
    const digest = sha256Digest(bytes);
    blobs.set(digest, bytes);
    return digest;
  };
  const append = (runId: string, action: AuditAction, entity: AuditEntry['entity'], data: JsonObject, outcome: AuditEntry['outcome'] = 'success') => {
    const runSeq = runSeqs.get(runId) ?? 0;
    runSeqs.set(runId, runSeq + 1);
    const entry: AuditEntry = {
      seq: log.size,
      time: time(log.size),
      actor: { kind: 'system', id: 'engine', via: 'engine' },
      action,
      entity,
      outcome,
      runId,
      runSeq,
      data,
    };
    log.append(auditEntryBytes(entry));
    allEntries.push(entry);
  };

  const manifests: StoredManifest[] = [];
  const specs = new Map<string, RunSpecV1>();
  const runOne = async (runId: string, items: number, modelCalls = 0) => {
    const itemIds = Array.from({ length: items }, (_, item) => (item === 0 ? 'edit' : `edit-${item}`));
    const runSpec = spec(runId, itemIds);
    specs.set(runId, runSpec);
    append(runId, 'run.submitted', { kind: 'run', id: runId }, { specDigest: digestOfJson(runSpec) });
    append(runId, 'run.started', { kind: 'run', id: runId }, {});
    // With `batchManifests`, the run's manifests are signed as one dispatch pass (ADR 0026).
    const batched = options.batchManifests
      ? await signManifests(
          itemIds.map((itemId) => manifestOf(runId, itemId, time(log.size))),
          (delegate ?? signer).signer,
        )
      : undefined;
    for (const [item, itemId] of itemIds.entries()) {
      const envelope = batched?.[item] ?? (await signManifest(manifestOf(runId, itemId, time(log.size)), (delegate ?? signer).signer));
      manifests.push(envelope);
      const attemptId = { kind: 'attempt' as const, id: `${runId}/${itemId}/1` };
      append(runId, 'attempt.dispatched', attemptId, { itemId, attempt: 1, manifestDigest: digestOfJson(envelope) });
      // As the gateway writes them: members in code-unit order, usage and cost absent when unknown.
      for (const call of modelCallsOf(itemId, stored).slice(0, modelCalls)) append(runId, 'model.called', attemptId, call.data, call.outcome);
      append(runId, 'attempt.completed', attemptId, {
        itemId,
        attempt: 1,
        outcome: 'succeeded',
        artifacts: { patch: stored(`${runId} ${itemId} patch`), stdout: stored(`${runId} ${itemId} out`), stderr: stored('') },
      });
      append(runId, 'item.succeeded', { kind: 'item', id: `${runId}/${itemId}` }, {});
    }
    append(runId, 'run.succeeded', { kind: 'run', id: runId }, {});
  };
  const runId = options.runId ?? 'run-1';
  const otherRunId = options.otherRunId ?? 'run-0';
  await runOne(otherRunId, 1);
  const olderCheckpoint = await signCheckpoint(
    { origin: 'cairn:test', treeSize: log.size, rootHash: Buffer.from(log.rootHash()).toString('hex'), time: time(log.size) },
    signer.signer,
  );
  await runOne(runId, 1 + (options.extraItems ?? 0), options.modelCalls ?? 0);
  const checkpoint = await signCheckpoint(
    { origin: 'cairn:test', treeSize: log.size, rootHash: Buffer.from(log.rootHash()).toString('hex'), time: time(log.size) },
    signer.signer,
  );
  const anchor = createInMemoryAuditAnchor({ now: () => Date.UTC(2026, 10, 22, 11) });
  const receipt = await anchor.anchor({
    origin: 'cairn:test',
    treeSize: log.size,
    rootHash: Buffer.from(log.rootHash()).toString('hex'),
    envelope: anchorEnvelopeBytes(checkpoint),
  });
  const signedReceipt = await signReceipt(receipt, signer.signer);
  const rebuild = () =>
    buildEvidenceBundle({
      runId,
      spec: specs.get(runId)!,
      entries: allEntries.filter((entry) => entry.runId === runId),
      proofs: log,
      checkpoint,
      anchors: [signedReceipt],
      keys: [signer.record],
      manifests,
      ...(delegation ? { delegations: [delegation] } : {}),
    });
  const bundle = rebuild();
  return {
    bundle,
    bytes: serializeEvidenceBundle(bundle),
    signer,
    anchor,
    log,
    allEntries,
    olderCheckpoint,
    blobs,
    rebuild,
    ...(delegate && delegation ? { delegate, delegation } : {}),
  };
}

/** The `model.called` entries of one item's attempt, their bodies stored with `store`. */
function modelCallsOf(itemId: string, store: (text: string) => string): { outcome: AuditEntry['outcome']; data: JsonObject }[] {
  const request = (text: string) => store(JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: text }] }));
  return [
    {
      outcome: 'success',
      data: {
        api: 'anthropic-messages',
        attempt: 1,
        cacheReadTokens: 0,
        costUsd: 0.0105,
        inputTokens: 1200,
        itemId,
        latencyMs: 840,
        model: 'claude-sonnet-4-5',
        outputTokens: 460,
        provider: 'anthropic',
        request: request(`${itemId}: read edit.js`),
        response: store(JSON.stringify({ type: 'message', content: [{ type: 'text', text: 'It exports one function.' }] })),
        status: 200,
        stream: false,
      },
    },
    {
      outcome: 'failure',
      data: {
        api: 'openai-responses',
        attempt: 1,
        firstTokenMs: 310,
        itemId,
        latencyMs: 2950,
        model: 'gpt-5',
        provider: 'openai',
        reason: 'the stream broke before its usage event',
        request: request(`${itemId}: write the patch`),
        response: store('event: response.output_text.delta\ndata: {"delta":"diff --git"}\n\n'),
        status: 200,
        stream: true,
      },
    },
    {
      outcome: 'denied',
      data: {
        api: 'openai-chat',
        attempt: 1,
        itemId,
        latencyMs: 0,
        model: 'gpt-5',
        provider: 'openai',
        quotaWaitMs: 0,
        reason: 'the run budget of $0.01 is spent',
        request: request(`${itemId}: check the patch`),
        status: 402,
        stream: false,
      },
    },
  ];
}
