// One incarnation of the crash test's engine:
//   node --conditions=@cairn/source crash-child.test-support.ts <dir> <seed> <killPoint>
// Opens <dir>/engine.db over the durable seams, submits the seeded run (a fixed idempotency key:
// after a crash it is the same run), starts, waits for the run, makes sure a checkpoint covers it,
// prints `done {...}` and exits 0 — unless its failpoint kills it first (SIGKILL to itself on the
// Nth time it gets there). The failpoints wrap the seams; the engine has no test hooks.
// With CAIRN_CRASH_POSTGRES (a PostgreSQL state store's settings, JSON) the engine's state is not
// <dir>/engine.db but that store (ADR 0023): the child takes the writer lease, loads a working copy
// and commits to it in group commits, as a leader does; a kill loses what was not committed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutorV1, SignerV1, StorageProviderV1 } from '@cairn/core';
import { checkpointPayloadType, serializeEvidenceBundle } from '@cairn/audit';
import type { EngineDatabase } from '../store/sqlite/engine-database.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { createEngine } from '../engine.ts';
import { captureChanges } from '../store/change-capture.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { GroupCommitter } from '../store/group-committer.ts';
import { createPostgresStateStore } from '../store/postgres/postgres-state-store.ts';
import type { PostgresWriter } from '../store/postgres/postgres-writer.ts';
import { crashRunSpec, idempotencyKey, parseKillPoint, type FailpointKind } from './crash-plan.test-support.ts';
import { DirectoryAnchor, DirectoryStorage, FileExecutor, persistentSigner } from './durable-seams.test-support.ts';

const [directory, seedText, killPointText] = process.argv.slice(2);
if (directory === undefined || seedText === undefined || killPointText === undefined) throw new Error('usage: crash-child <dir> <seed> <killPoint>');
const killPoint = parseKillPoint(killPointText);
const seen = new Map<FailpointKind, number>();

/** Dies here if this is the Nth time at the chosen failpoint. */
function failpoint(kind: FailpointKind): void {
  if (!('count' in killPoint) || killPoint.kind !== kind) return;
  const count = (seen.get(kind) ?? 0) + 1;
  seen.set(kind, count);
  if (count === killPoint.count) process.kill(process.pid, 'SIGKILL');
}

const inner = new DirectoryStorage(join(directory, 'storage'));
const storage: StorageProviderV1 = {
  specificationVersion: 'v1',
  provider: inner.provider,
  capabilities: inner.capabilities,
  put: async (key, body, options) => {
    const result = await inner.put(key, body, options);
    if (key.startsWith('manifests/')) failpoint('manifest-put');
    return result;
  },
  get: (key) => inner.get(key),
  head: (key) => inner.head(key),
  list: (options) => inner.list(options),
  delete: (key) => inner.delete(key),
};

const keySigner = persistentSigner(join(directory, 'signer.pem'));
/** Whether the run has ended (set once the engine exists). */
let runEnded = () => false;
// DSSE PAE bytes start `DSSEv1 <length> <payloadType> `: a checkpoint is known by its type.
const checkpointPae = Buffer.from(`${checkpointPayloadType} `);
const signer: SignerV1 = {
  specificationVersion: 'v1',
  provider: keySigner.provider,
  algorithm: keySigner.algorithm,
  keyId: () => keySigner.keyId(),
  publicKey: () => keySigner.publicKey(),
  sign: async (message) => {
    if (Buffer.from(message.subarray(0, 80)).includes(checkpointPae)) {
      failpoint('checkpoint-sign');
      if (runEnded()) failpoint('run-end-checkpoint');
    }
    return keySigner.sign(message);
  },
};

const files = new FileExecutor({
  root: join(directory, 'executor'),
  storage: inner,
  onPhase: (phase) => failpoint(phase === 'ran' ? 'task-ran' : 'task-result'),
});
const executor: ExecutorV1 = {
  specificationVersion: 'v1',
  provider: files.provider,
  capabilities: files.capabilities,
  start: async (task) => {
    failpoint('executor-start');
    return files.start(task);
  },
  inspect: (handle) => files.inspect(handle),
  cancel: (handle) => files.cancel(handle),
  onExit: (listener) =>
    files.onExit((executionId, status) => {
      failpoint('exit-push');
      listener(executionId, status);
    }),
};

/** The engine's state: the database file, or a working copy of the PostgreSQL store with its group commit. */
async function stateStore(): Promise<{ database: string | EngineDatabase; commit?: GroupCommit; writer?: PostgresWriter }> {
  const settings = process.env['CAIRN_CRASH_POSTGRES'];
  if (settings === undefined) return { database: join(directory!, 'engine.db') };
  const writer = await createPostgresStateStore(JSON.parse(settings)).acquireWriter({ instanceId: `crash-child-${process.pid}` });
  const workingCopy = openEngineDatabase(':memory:');
  const capture = captureChanges(workingCopy);
  await writer.load(workingCopy, capture);
  return { database: workingCopy, commit: new GroupCommitter(capture, writer).commit, writer };
}
const state = await stateStore();

let submitting = false;
runEnded = () => ['succeeded', 'failed', 'cancelled'].includes(engine.run(runId)?.state ?? '');
const engine = createEngine({
  database: state.database,
  ...(state.commit ? { commit: state.commit } : {}),
  executors: { local: executor },
  storage,
  signer,
  anchors: [new DirectoryAnchor(join(directory, 'anchor'), () => failpoint('anchor-publish'))],
  concurrency: 32,
  reconcileIntervalMs: 25,
  inboxPollMs: false,
  checkpoints: { everyEntries: 150, everyMs: 60_000 },
  now: () => {
    failpoint(submitting ? 'submit-now' : 'engine-now');
    return Date.now();
  },
});

submitting = true;
const { runId, created } = engine.submit(crashRunSpec(Number(seedText)), { actor: { kind: 'system', id: 'crash-test', via: 'engine' }, idempotencyKey });
submitting = false;
runEnded = () => ['succeeded', 'failed', 'cancelled'].includes(engine.run(runId)?.state ?? '');
// On PostgreSQL a submit is answered in the commit that carries it (a command of the store), so
// the run is said to be created only once it is durable, as the leader answers a replica.
await state.commit?.();
engine.start();
process.stdout.write(`started ${JSON.stringify({ runId, created })}\n`);
const run = await engine.waitForRun(runId);
// A run that ended in this incarnation has its checkpoint issued and anchored before we leave (the
// loop would do it on its next turn; exporting asks for it now).
const bundle = await engine.exportBundle(runId);
if (killPoint.kind === 'none') writeFileSync(join(directory, 'bundle.json'), serializeEvidenceBundle(bundle));
process.stdout.write(`done ${JSON.stringify({ runId, state: run.state, auditEntries: engine.audit.size })}\n`);
if (killPoint.kind === 'linger') {
  // The parent kills this process after its delay: stay alive (the engine running, idle) until then.
  setInterval(() => undefined, 60_000);
} else {
  await engine.close();
  await state.commit?.();
  await state.writer?.release();
}
