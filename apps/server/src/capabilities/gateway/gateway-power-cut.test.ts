// The model gateway on a disk whose power is cut (ADR 0059): its bodies are stored without a flush
// of their own before the answer and flushed after it, the entry written once they are and a commit
// asked for meanwhile held for it. So a cut at any moment after the answer — before the entry's
// commit, while it is under way, after it — leaves no `model.called` entry naming a body that is
// not stored whole. The engine's SQLite
// state and the local storage both live on the power-cut file system; after each cut a fresh engine
// and storage read what the disk kept.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEntry, StorageProviderV1, StoragePutOptions } from '@cairn/core';
import { createEngine, type Engine } from '@cairn/engine';
import { createLocalStorageProvider } from '@cairn/local';
import { createInMemoryExecutor, createInMemorySigner } from '@cairn/conformance/mocks';
import { usePowerCutFileSystem } from '@cairn/conformance/faults';
import { blobKey, sha256Digest } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { listenEngineGateway } from './engine-gateway.test-support.ts';
import { startScriptedModels, type ScriptedModels } from './scripted-models.test-support.ts';

const power = usePowerCutFileSystem();
const model = 'gpt-4o-mini';
const actor = { kind: 'user', id: 'ana', via: 'cli' } as const;
const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close().catch(() => undefined);
});

/** An engine and storage on the cut disk, in `folder` (made, and its name flushed, at first use); not started unless asked. */
function onTheDisk(folder: string) {
  if (!existsSync(join(power.path, folder))) {
    mkdirSync(join(power.path, folder));
    const root = openSync(power.path, 'r');
    fsyncSync(root);
    closeSync(root);
  }
  const storage = createLocalStorageProvider({ root: join(power.path, folder, 'storage') });
  // Each attempt runs until it is cancelled: its credential stays good while the test calls.
  const executor = createInMemoryExecutor({
    run: (_task, signal) => new Promise<number>((resolve) => signal.addEventListener('abort', () => resolve(1), { once: true })),
  });
  const engine = createEngine({
    database: join(power.path, folder, 'engine.db'),
    executors: { local: executor },
    storage,
    signer: createInMemorySigner(),
    anchors: [],
    // Nothing of its own commits while the test cuts: only the commits the test makes.
    reconcileIntervalMs: 600_000,
    timeoutGraceMs: 0,
  });
  return { engine, storage };
}

/**
 * A running engine with one attempt running, the gateway in front of scripted models, and a
 * credential for the attempt. `flushDelayMs`: the gateway's storage starts each durable put that
 * late (a slow disk), so that a commit not held for the bodies would land first.
 */
async function gatewayOnTheDisk(folder: string, calls: number, flushDelayMs = 0) {
  const { engine, storage: disk } = onTheDisk(folder);
  const storage: StorageProviderV1 = Object.assign(Object.create(disk) as StorageProviderV1, {
    put: async (key: string, body: Uint8Array, options?: StoragePutOptions) => {
      if (options?.deferFlush !== true) await sleep(flushDelayMs);
      return disk.put(key, body, options);
    },
  });
  engine.start();
  const { runId } = engine.submit({ version: 1, name: 'agent', items: [{ id: 'write', runtime: { kind: 'command', argv: ['true'] } }] }, { actor });
  const executionId = `${runId}/write/1`;
  for (let wait = 0; engine.liveAttempt(executionId) === undefined; wait++) {
    if (wait > 500) throw new Error(`attempt ${executionId} did not start`);
    await sleep(10);
  }
  const models: ScriptedModels = await startScriptedModels({
    chat: Array.from({ length: calls }, (_, index) => ({ text: `answer ${index} of the scripted model`, usage: { inputTokens: 10, outputTokens: 5 } })),
  });
  closing.push(() => models.close());
  const { server, credentials } = await listenEngineGateway({ engine, storage, openaiBaseUrl: models.baseUrls.openai, keySeed: 9 });
  closing.push(() => server.close());
  const credential = credentials.mint({ executionId, models: [model], expiresAt: Date.now() + 600_000 });
  const call = async (index: number, stream: boolean): Promise<string> => {
    const response = await fetch(`${server.url}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: `question ${index} of a cut` }] }),
    });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    return text;
  };
  return { engine, runId, call };
}

/** After a cut: the run's `model.called` entries the disk kept, and each one's bodies as storage holds them now. */
async function keptAfterTheCut(folder: string, runId: string) {
  const { engine, storage } = onTheDisk(folder);
  closing.push(() => engine.close());
  const entries = [...engine.audit.runEntries(runId)].filter((entry: AuditEntry) => entry.action === 'model.called');
  const bodies = await Promise.all(
    entries.map(async (entry) =>
      Promise.all(
        [entry.data['request'], entry.data['response']].map(async (digest) => {
          // Read whole and checked against its digest by the provider: a cut-short body is an error, not a pass.
          const bytes = await storage.get(blobKey(String(digest) as `sha256:${string}`));
          return bytes === null ? null : sha256Digest(bytes);
        }),
      ),
    ),
  );
  return { entries, bodies };
}

/** Leaves the engine to the cut: what it holds open dies with the mount. */
function abandon(engine: Engine): void {
  closing.push(() => engine.close());
}

test(
  'a commit asked for as the answers end lands only once their bodies are flushed, however slow the flush: all are kept through a cut after it',
  { timeout: 120_000 },
  async () => {
    const { engine, runId, call } = await gatewayOnTheDisk('committed', 6, 100);
    // Six calls at once, and the entries' commit asked for as each answer ends: no commit may land
    // before the bodies of the entries it carries are flushed.
    const commits: Promise<void>[] = [];
    const answers = await Promise.all(
      Array.from({ length: 6 }, async (_, index) => {
        const answer = await call(index, index % 2 === 1);
        commits.push(engine.committed());
        return answer;
      }),
    );
    await Promise.all(commits);
    abandon(engine);
    await power.cut();
    const { entries, bodies } = await keptAfterTheCut('committed', runId);
    expect(entries).toHaveLength(6);
    for (const [index, entry] of entries.entries()) expect(bodies[index], JSON.stringify(entry.data)).toEqual([entry.data['request'], entry.data['response']]);
    // The answers the agent got are the bodies kept.
    expect(entries.map((entry) => entry.data['response']).sort()).toEqual(answers.map((answer) => sha256Digest(answer)).sort());
  },
);

test(
  'a cut at any moment after an answer, its commit under way or not, never leaves an entry naming a body that is not stored',
  { timeout: 300_000 },
  async () => {
    let kept = 0;
    // Cuts 0-5 ms after the commit is asked for; then, on a machine loaded enough that none of those
    // came after a commit had landed, later ones until one does (at most 2 s after).
    const delays = [0, 1, 2, 3, 4, 5, 20, 100, 500, 2_000];
    for (const [round, delayMs] of delays.entries()) {
      if (round >= 6 && kept > 0) break;
      const folder = `round-${round}`;
      const { engine, runId, call } = await gatewayOnTheDisk(folder, 1);
      await call(round, round % 2 === 0);
      // A commit asked for at once, as the engine's next pass would, and the power cut a moment later:
      // from before the bodies' flush lands to after the commit has.
      void engine.committed().catch(() => undefined);
      await sleep(delayMs);
      abandon(engine);
      await power.cut();
      const { entries, bodies } = await keptAfterTheCut(folder, runId);
      expect(entries.length).toBeLessThanOrEqual(1);
      for (const [index, entry] of entries.entries())
        expect(bodies[index], JSON.stringify(entry.data)).toEqual([entry.data['request'], entry.data['response']]);
      kept += entries.length;
    }
    // Some cuts came after the commit (the entry kept, with its bodies): the rule was tested, not only its absence.
    expect(kept).toBeGreaterThan(0);
  },
);
