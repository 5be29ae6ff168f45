// How long the PostgreSQL state store takes to commit and load an engine's changes, against the
// same work on SQLite. Not a test (no timed tests): a measurement to run by hand, on the test
// cluster (bash scripts/postgres.sh start) and the built engine (pnpm --filter @cairn/engine build).
//
//   node packages/engine/scripts/postgres-commit-timing.mjs [items=10000] [perCommit=50] [loadItems=100000]
//
// It submits one run of `items` independent items, then starts and finishes every item, `perCommit`
// items' transitions per working-copy group commit (the engine commits a loop turn's decisions at
// once; at concurrency 50 about 50 items move per turn). Printed: the time on the working copy
// alone (capture on), the time of the PostgreSQL commits, and the same transitions on a SQLite
// file (WAL, synchronous=NORMAL), which is the embedded default.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AuditLog, captureChanges, createPostgresStateStore, openEngineDatabase, RunStateMachine, WorkingCopy } from '@cairn/engine/internals';

const [items = 10_000, perCommit = 50, loadItems = 100_000] = process.argv.slice(2).map(Number);
const connectionFile = process.env.CAIRN_POSTGRES_DIR
  ? `${process.env.CAIRN_POSTGRES_DIR}/connection.json`
  : fileURLToPath(new URL('../../../.tools/postgres/connection.json', import.meta.url));
const connection = JSON.parse(readFileSync(connectionFile, 'utf8'));
const actor = { kind: 'user', id: 'timing', via: 'cli' };
const spec = (count) => ({
  version: 1,
  name: 'timing',
  items: Array.from({ length: count }, (_, index) => ({ id: `i${index}`, runtime: { kind: 'command', argv: ['true'] } })),
});
const ms = (start) => `${(performance.now() - start).toFixed(0)} ms`;

async function withDatabase(body) {
  const name = `cairn_timing_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ ...connection });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    return await body({ kind: 'postgres', host: connection.host, port: connection.port, user: connection.user, password: connection.password, database: name });
  } finally {
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/** Runs the workload on `copy`, calling `commit` after the submit and after every `perCommit` items. */
async function workload(copy, commit) {
  const workingCopy = new WorkingCopy(copy);
  const audit = new AuditLog(workingCopy);
  const machine = new RunStateMachine(workingCopy, audit);
  const submitStart = performance.now();
  const { runId } = machine.submit(spec(items), { actor });
  await commit();
  const submitted = performance.now() - submitStart;
  const transitionsStart = performance.now();
  for (let first = 0; first < items; first += perCommit) {
    const turn = copy.transaction(() => {
      for (let index = first; index < Math.min(items, first + perCommit); index++) {
        machine.startItem(runId, `i${index}`);
        machine.finishItem(runId, `i${index}`, 'succeeded');
      }
    });
    turn();
    await commit();
  }
  return { submitted, transitions: performance.now() - transitionsStart, auditSize: audit.size };
}

// SQLite: the file is the store, each working-copy transaction is the commit.
const directory = mkdtempSync(join(tmpdir(), 'cairn-timing-'));
const sqlite = await workload(openEngineDatabase(join(directory, 'engine.db')), async () => {});
rmSync(directory, { recursive: true, force: true });
console.log(`SQLite file:  submit ${items} items ${sqlite.submitted.toFixed(0)} ms; start+finish ${items} items ${sqlite.transitions.toFixed(0)} ms`);

await withDatabase(async (settings) => {
  const writer = await createPostgresStateStore(settings).acquireWriter({ instanceId: 'timing' });
  try {
    const copy = openEngineDatabase(':memory:');
    const capture = captureChanges(copy);
    let committing = 0;
    let commits = 0;
    let rows = 0;
    let submitCommit = 0;
    const result = await workload(copy, async () => {
      const start = performance.now();
      const batch = capture.drain();
      const outcome = await writer.commit(batch);
      const took = performance.now() - start;
      if (commits === 0) submitCommit = took;
      committing += took;
      commits++;
      rows += outcome.rows;
    });
    console.log(
      `PostgreSQL:   submit ${items} items ${result.submitted.toFixed(0)} ms (of which its commit ${submitCommit.toFixed(0)} ms); ` +
        `start+finish ${items} items ${result.transitions.toFixed(0)} ms in ${commits - 1} group commits ` +
        `(${(committing - submitCommit).toFixed(0)} ms committing, ${rows} rows in all, audit size ${result.auditSize})`,
    );
    console.log(
      `ratio PostgreSQL / SQLite for the whole workload: ${((result.submitted + result.transitions) / (sqlite.submitted + sqlite.transitions)).toFixed(2)}`,
    );
    // Loading: the state of this run, then a bigger one.
    let start = performance.now();
    const loaded = openEngineDatabase(':memory:');
    const counts = await writer.load(loaded);
    console.log(`load: ${counts.items} items, ${counts.audit_entries} audit entries in ${ms(start)}`);
  } finally {
    await writer.release();
  }
});

await withDatabase(async (settings) => {
  const writer = await createPostgresStateStore(settings).acquireWriter({ instanceId: 'timing-load' });
  try {
    const copy = openEngineDatabase(':memory:');
    const capture = captureChanges(copy);
    const workingCopy = new WorkingCopy(copy);
    const machine = new RunStateMachine(workingCopy, new AuditLog(workingCopy));
    for (let done = 0; done < loadItems; done += 10_000) machine.submit(spec(Math.min(10_000, loadItems - done)), { actor });
    let start = performance.now();
    await writer.commit(capture.drain());
    console.log(`commit of ${loadItems} submitted items in one batch: ${ms(start)}`);
    start = performance.now();
    const counts = await writer.load(openEngineDatabase(':memory:'));
    console.log(`load: ${counts.items} items, ${counts.audit_entries} audit entries, ${counts.merkle_nodes} Merkle nodes in ${ms(start)}`);
  } finally {
    await writer.release();
  }
});
