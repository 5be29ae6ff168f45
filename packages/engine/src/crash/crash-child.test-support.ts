// One incarnation of the crash test's engine:
//   node --conditions=@cairn/source crash-child.test-support.ts <dir> <seed> <killPoint> [seeded|planner-chain]
// Opens <dir>/engine.db over the durable seams, submits the seeded run (or the planner crash test's
// chain of planners; a fixed idempotency key: after a crash it is the same run), starts, waits for the run,
// makes sure a checkpoint covers it, prints `done {...}` and exits 0 — unless its failpoint kills it
// first (SIGKILL to itself on the Nth time it gets there). The failpoints wrap the seams and the
// database handle it gives the engine; the engine has no test hooks.
// Once the first planner's result it writes is written it counts the moments after it
// (`planner-moment`), and prints `window {"planner":...,"moments":n,"kinds":[...]}` when the first
// item of that planner's fragment is started: the moments from the planner's result to its
// fragment's first dispatch, for the parent to aim at.
// With CAIRN_CRASH_POSTGRES (a PostgreSQL state store's settings, JSON) the engine's state is not
// <dir>/engine.db but that store (ADR 0023): the child takes the writer lease, loads a working copy
// and commits to it in group commits, as a leader does; a kill loses what was not committed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutorV1, SignerV1, StorageProviderV1 } from '@cairn/core';
import { checkpointPayloadType, serializeEvidenceBundle } from '@cairn/audit';
import type { EngineDatabase } from '../store/shared/engine-database.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { createEngine } from '../engine.ts';
import { captureChanges } from '../store/change-capture.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { GroupCommitter } from '../store/group-committer.ts';
import { createPostgresStateStore } from '../store/postgres/postgres-state-store.ts';
import type { PostgresWriter } from '../store/postgres/postgres-writer.ts';
import {
  crashRunSpec,
  idempotencyKey,
  parseKillPoint,
  plannerChainSpec,
  type CrashRunName,
  type FailpointKind,
  type PlannerMoment,
} from './crash-plan.test-support.ts';
import { DirectoryAnchor, DirectoryStorage, FileExecutor, persistentSigner } from './durable-seams.test-support.ts';

const [directory, seedText, killPointText, runName = 'seeded'] = process.argv.slice(2) as [string?, string?, string?, CrashRunName?];
if (directory === undefined || seedText === undefined || killPointText === undefined || !['seeded', 'planner-chain'].includes(runName))
  throw new Error('usage: crash-child <dir> <seed> <killPoint> [seeded|planner-chain]');
const killPoint = parseKillPoint(killPointText);
const seen = new Map<FailpointKind, number>();
const runSpec = runName === 'planner-chain' ? plannerChainSpec() : crashRunSpec(Number(seedText));
const planners = new Set(runSpec.items.filter((item) => item.emits !== undefined).map((item) => item.id));

/** Dies here if this is the Nth time at the chosen failpoint. */
function failpoint(kind: FailpointKind): void {
  if (!('count' in killPoint) || killPoint.kind !== kind) return;
  const count = (seen.get(kind) ?? 0) + 1;
  seen.set(kind, count);
  if (count === killPoint.count) process.kill(process.pid, 'SIGKILL');
}

/** The first planner whose result this process wrote, and the moments since (none counted before). */
let windowPlanner: string | undefined;
let plannerMoments: PlannerMoment[] | undefined;
let windowPrinted = false;

/** Counts a moment once a planner's result is written; dies here if it is the Nth (`planner-moment:N`). */
function plannerMoment(kind: PlannerMoment): void {
  if (plannerMoments === undefined) return;
  plannerMoments.push(kind);
  failpoint('planner-moment');
}

// An execution id is `<runId>/<itemId>/<attempt>`; a fragment's item ids are `<planner>/<id>`.
const itemOf = (executionId: string) => executionId.split('/').slice(1, -1).join('/');

const inner = new DirectoryStorage(join(directory, 'storage'));
const storage: StorageProviderV1 = {
  specificationVersion: 'v1',
  provider: inner.provider,
  capabilities: inner.capabilities,
  put: async (key, body, options) => {
    const result = await inner.put(key, body, options);
    if (key.startsWith('manifests/')) failpoint('manifest-put');
    plannerMoment('storage-put');
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
  onPhase: (phase, executionId) => {
    failpoint(phase === 'ran' ? 'task-ran' : 'task-result');
    if (phase === 'result-written' && windowPlanner === undefined && planners.has(itemOf(executionId))) {
      windowPlanner = itemOf(executionId);
      plannerMoments = [];
    }
  },
});
const executor: ExecutorV1 = {
  specificationVersion: 'v1',
  provider: files.provider,
  capabilities: files.capabilities,
  start: async (task) => {
    failpoint('executor-start');
    plannerMoment('executor-start');
    // The first item of the planner's fragment started closes the window.
    if (plannerMoments !== undefined && !windowPrinted && itemOf(task.executionId).startsWith(`${windowPlanner}/`)) {
      windowPrinted = true;
      process.stdout.write(`window ${JSON.stringify({ planner: windowPlanner, moments: plannerMoments.length, kinds: plannerMoments })}\n`);
      failpoint('planner-window-end');
    }
    return files.start(task);
  },
  inspect: (handle) => files.inspect(handle),
  cancel: (handle) => files.cancel(handle),
  onExit: (listener) =>
    files.onExit((executionId, status) => {
      failpoint('exit-push');
      plannerMoment('exit-push');
      listener(executionId, status);
    }),
};

/**
 * Makes `database` count its writes as planner moments: before the first write of each outermost
 * transaction (a kill there dies mid-transaction; any later write of it would die the same way: it
 * all rolls back) and before each write outside one, and after each outermost transaction commits.
 * Writes are the `run`s of statements prepared from now on (the engine's).
 */
function watchWrites(database: EngineDatabase): EngineDatabase {
  const prepare = database.prepare.bind(database);
  const transaction = database.transaction.bind(database);
  let wroteInTransaction = false;
  const prepareWatched = (source: string) => {
    const statement = prepare(source);
    const run = statement.run.bind(statement);
    // An own property of the statement: pluck() and raw() return the statement itself, still watched.
    Object.defineProperty(statement, 'run', {
      value: (...parameters: unknown[]) => {
        if (!database.inTransaction || !wroteInTransaction) {
          wroteInTransaction = database.inTransaction;
          plannerMoment('write');
        }
        return run(...parameters);
      },
    });
    return statement;
  };
  const transactionWatched = (body: (...parameters: any[]) => unknown) => {
    const wrapped = transaction(body);
    return function (this: unknown, ...parameters: unknown[]): unknown {
      const outermost = !database.inTransaction;
      if (outermost) wroteInTransaction = false;
      const result = wrapped.apply(this, parameters);
      if (outermost) plannerMoment('commit');
      return result;
    };
  };
  Object.defineProperty(database, 'prepare', { value: prepareWatched, configurable: true, writable: true });
  Object.defineProperty(database, 'transaction', { value: transactionWatched, configurable: true, writable: true });
  return database;
}

/** The engine's state: the database file, or a working copy of the PostgreSQL store with its group commit. */
async function stateStore(): Promise<{ database: EngineDatabase; commit?: GroupCommit; writer?: PostgresWriter }> {
  const settings = process.env['CAIRN_CRASH_POSTGRES'];
  if (settings === undefined) return { database: watchWrites(openEngineDatabase(join(directory!, 'engine.db'))) };
  const writer = await createPostgresStateStore(JSON.parse(settings)).acquireWriter({ instanceId: `crash-child-${process.pid}` });
  const workingCopy = watchWrites(openEngineDatabase(':memory:'));
  const capture = captureChanges(workingCopy);
  await writer.load(workingCopy, capture);
  const groupCommit = new GroupCommitter(capture, writer).commit;
  const commit = async () => {
    plannerMoment('group-commit');
    await groupCommit();
    plannerMoment('group-committed');
  };
  return { database: workingCopy, commit, writer };
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
const { runId, created } = engine.submit(runSpec, { actor: { kind: 'system', id: 'crash-test', via: 'engine' }, idempotencyKey });
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
  state.database.close();
}
