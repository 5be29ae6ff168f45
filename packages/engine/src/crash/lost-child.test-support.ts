// One incarnation of the lost-attempt test's server:
//   node --conditions=@cairn/source lost-child.test-support.ts <dir> <hang|finish> <spec.json>
// Opens <dir>/engine.db over a directory storage and an executor whose tasks live in this process
// (the in-memory one): when the process dies, its tasks die with it, as the sandboxes of a host
// that crashed do, and the next incarnation's executor no longer knows them. Submits the spec (a
// fixed idempotency key: after a crash it is the same run) and starts.
// - `hang`: every task runs until killed; prints `running` once every item still to end has its
//   task running here (the parent then kills the process with SIGKILL).
// - `finish`: tasks exit at once (argv `fail-once`: exit 1 the first time the item runs in this
//   process, 0 after); waits for the run, prints `done <items JSON>` and exits 0.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoredManifest, TaskEnvelope } from '@cairn/core';
import { storedManifestPayload } from '@cairn/audit';
import { createInMemoryExecutor } from '@cairn/conformance/mocks';
import { manifestKey } from '@cairn/protocol';
import { createEngine } from '../engine.ts';
import { DirectoryStorage, persistentSigner } from './durable-seams.test-support.ts';

const [directory, mode, specPath] = process.argv.slice(2);
if (directory === undefined || (mode !== 'hang' && mode !== 'finish') || specPath === undefined)
  throw new Error('usage: lost-child <dir> <hang|finish> <spec.json>');
const storage = new DirectoryStorage(join(directory, 'storage'));
const ranHere = new Set<string>();

const body = async (task: TaskEnvelope, signal: AbortSignal): Promise<number> => {
  const envelope = JSON.parse(new TextDecoder().decode((await storage.get(manifestKey(task.manifestDigest)))!)) as StoredManifest;
  const manifest = JSON.parse(Buffer.from(storedManifestPayload(envelope), 'base64').toString('utf8')) as { itemId: string; runtime: { argv: string[] } };
  if (mode === 'hang') {
    ranHere.add(manifest.itemId);
    await sleep(3_600_000, undefined, { signal }).catch(() => undefined);
    return 130;
  }
  const first = !ranHere.has(manifest.itemId);
  ranHere.add(manifest.itemId);
  return manifest.runtime.argv[0] === 'fail-once' && first ? 1 : 0;
};

const engine = createEngine({
  database: join(directory, 'engine.db'),
  executors: { local: createInMemoryExecutor({ run: body }) },
  storage,
  signer: persistentSigner(join(directory, 'signer.pem')),
  reconcileIntervalMs: 20,
  inboxPollMs: false,
});
const { runId } = engine.submit(JSON.parse(readFileSync(specPath, 'utf8')), {
  actor: { kind: 'system', id: 'lost-test', via: 'engine' },
  idempotencyKey: 'lost-test-run',
});
engine.start();
if (mode === 'hang') {
  for (;;) {
    // Every item still to end has a task running in this process (a `running` item may still be
    // the last incarnation's attempt, not yet found lost).
    const items = engine.items(runId);
    const waiting = items.filter((item) => !['succeeded', 'failed', 'cancelled', 'skipped'].includes(item.state));
    if (waiting.length > 0 && waiting.every((item) => item.state === 'running' && ranHere.has(item.itemId))) break;
    if (['succeeded', 'failed', 'cancelled'].includes(engine.run(runId)!.state)) break;
    await sleep(5);
  }
  process.stdout.write('running\n');
  setInterval(() => undefined, 60_000);
} else {
  await engine.waitForRun(runId);
  process.stdout.write(`done ${JSON.stringify(engine.items(runId).map((item) => ({ itemId: item.itemId, state: item.state })))}\n`);
  await engine.close();
}
