// A `model.called` entry never reaches the engine's SQLite database — its WAL, where the kernel may
// write it back, a checkpoint copy it, or a WAL fsync under way carry it at any moment — before the
// bodies it names are durable (ADR 0059). The bodies' flush is held back by the test; meanwhile a
// second SQLite connection, reading what is in the database file and its WAL, watches every entry
// that appears, and the attempt, whose agent has exited, must not end before its calls' entries.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { StorageProviderV1, StoragePutOptions } from '@cairn/core';
import { createEngine } from '@cairn/engine';
import { createLocalStorageProvider } from '@cairn/local';
import { createInMemoryExecutor, createInMemorySigner } from '@cairn/conformance/mocks';
import { blobKey } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { listenEngineGateway } from './engine-gateway.test-support.ts';
import { startScriptedModels } from './scripted-models.test-support.ts';

const model = 'gpt-4o-mini';
const actor = { kind: 'user', id: 'ana', via: 'cli' } as const;
const closing: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

test(
  "no model.called entry is in the SQLite database or its WAL before its bodies are durable, and the attempt's end waits for it",
  { timeout: 60_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-entry-after-bodies-'));
    closing.push(() => rmSync(directory, { recursive: true, force: true }));
    const disk = createLocalStorageProvider({ root: join(directory, 'storage') });
    // The storage's durable puts wait until the test lets them go; the keys they made durable are noted.
    let letFlushesGo!: () => void;
    const flushesMayGo = new Promise<void>((resolve) => (letFlushesGo = resolve));
    const durableKeys = new Set<string>();
    const storage: StorageProviderV1 = Object.assign(Object.create(disk) as StorageProviderV1, {
      put: async (key: string, body: Uint8Array, options?: StoragePutOptions) => {
        if (options?.deferFlush === true) return disk.put(key, body, options);
        await flushesMayGo;
        const result = await disk.put(key, body, options);
        durableKeys.add(key);
        return result;
      },
    });
    let agentExits!: () => void;
    const agentExited = new Promise<number>((resolve) => (agentExits = () => resolve(0)));
    const engine = createEngine({
      database: join(directory, 'engine.db'),
      executors: { local: createInMemoryExecutor({ run: () => agentExited }) },
      storage: disk,
      signer: createInMemorySigner(),
      anchors: [],
    });
    closing.push(() => engine.close());
    engine.start();
    const { runId } = engine.submit({ version: 1, name: 'agent', items: [{ id: 'ask', runtime: { kind: 'command', argv: ['true'] } }] }, { actor });
    const executionId = `${runId}/ask/1`;
    for (let wait = 0; engine.liveAttempt(executionId) === undefined; wait++) {
      if (wait > 500) throw new Error(`attempt ${executionId} did not start`);
      await sleep(10);
    }

    // What another process reading the database sees: every model.called entry, and whether each
    // body it named was durable when the entry was first seen.
    const reader = new Database(join(directory, 'engine.db'), { readonly: true, fileMustExist: true });
    closing.push(() => reader.close());
    const entries = reader.prepare<[string], { body: string }>("SELECT body FROM audit_entries WHERE run_id = ? AND action = 'model.called' ORDER BY run_seq");
    const seen = new Map<string, boolean>();
    const look = () => {
      for (const { body } of entries.all(runId)) {
        if (seen.has(body)) continue;
        const data = (JSON.parse(body) as { data: { request: string; response: string } }).data;
        seen.set(
          body,
          [data.request, data.response].every((digest) => durableKeys.has(blobKey(digest as `sha256:${string}`))),
        );
      }
    };
    let watching = true;
    const watch = (async () => {
      for (; watching; await sleep(1)) look();
    })();

    const models = await startScriptedModels({
      chat: [0, 1].map((index) => ({ text: `answer ${index} of the scripted model`, usage: { inputTokens: 10, outputTokens: 5 } })),
    });
    closing.push(() => models.close());
    const { server, credentials } = await listenEngineGateway({ engine, storage, openaiBaseUrl: models.baseUrls.openai, keySeed: 5 });
    closing.push(() => server.close());
    const credential = credentials.mint({ executionId, models: [model], expiresAt: Date.now() + 600_000 });
    // Two calls, one streamed: both answered while their bodies' flushes are held back.
    await Promise.all(
      [false, true].map(async (stream, index) => {
        const response = await fetch(`${server.url}/openai/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: `question ${index}` }] }),
        });
        expect(response.status, await response.text()).toBe(200);
      }),
    );
    // The answers are out and a commit lands meanwhile; the agent exits; its end is reported.
    agentExits();
    await sleep(300);
    expect(seen.size, 'entries written while their bodies were not durable').toBe(0);
    expect(engine.liveAttempt(executionId), 'the attempt ended before its calls were recorded').toBeDefined();

    letFlushesGo();
    for (let wait = 0; engine.liveAttempt(executionId) !== undefined; wait++) {
      if (wait > 500) throw new Error(`attempt ${executionId} did not end`);
      await sleep(10);
    }
    await engine.committed();
    watching = false;
    await watch;
    look();
    // Both recorded, each seen only once its bodies were durable, and before the attempt's end.
    expect([...seen.values()]).toEqual([true, true]);
    const actions = [...engine.audit.runEntries(runId)].map((entry) => entry.action);
    expect(actions.lastIndexOf('model.called')).toBeLessThan(actions.indexOf('attempt.completed'));
    expect(actions.filter((action) => action === 'model.called')).toHaveLength(2);
  },
);
