// The deliver executor's life across a restart, over real directory storage: a new instance (a
// restarted server) answers from the stored result record, a delivery that left none is unknown
// (the engine counts it lost, and a deliver item's onLost: fail makes that a failure), a
// manifest it cannot read is never run, and a finished delivery's status is held only until the
// engine has it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DispatchManifest, ExecutionStatus } from '@cairn/core';
import { createLocalStorageProvider } from '@cairn/local';
import { canonicalJsonBytes, manifestKey, resultKey, sha256Digest } from '@cairn/protocol';
import { afterAll, expect, test } from 'vitest';
import { DeliveredTips } from './delivered-tips.ts';
import { DeliveryExecutor } from './delivery-executor.ts';
import type { ServerForges } from './server-forges.ts';

const root = mkdtempSync(join(tmpdir(), 'cairn-delivery-executor-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const storage = createLocalStorageProvider({ root });
const executor = () =>
  new DeliveryExecutor({
    // The deliveries here fail before they use the engine (their patch is missing).
    service: () => ({}) as never,
    storage,
    signer: undefined as never,
    origin: 'cairn:test',
    forges: undefined as unknown as ServerForges,
    tips: new DeliveredTips(storage),
  });

test('after a restart: a stored result is answered as it was, a delivery with none is unknown, another executor’s handle is refused', async () => {
  const executionId = 'r-1/ship/1';
  const digest = `sha256:${'1'.repeat(64)}` as const;
  await storage.put(
    resultKey(executionId),
    canonicalJsonBytes({
      version: 'cairn.result/v1',
      runId: 'r-1',
      itemId: 'ship',
      attempt: 1,
      fencingToken: 1,
      executionId,
      manifestDigest: digest,
      outcome: 'failed',
      exitCode: null,
      startedAt: '2026-11-27T08:00:00.000Z',
      finishedAt: '2026-11-27T08:00:01.000Z',
      artifacts: { stdout: digest, stderr: digest },
      failure: { code: 'CAIRN_FORGE_CONFLICT', message: 'moved', exitCode: null, signal: null, stderrTail: '' },
    }),
  );
  const restarted = executor();
  const stored = JSON.parse(Buffer.from((await storage.get(resultKey(executionId)))!).toString('utf8')) as unknown;
  // The stored record is carried with the answer (ADR 0060): the engine does not read it again.
  expect(await restarted.inspect({ executor: 'deliver', executionId })).toEqual({
    state: 'exited',
    outcome: 'failed',
    resultKey: resultKey(executionId),
    result: stored,
  });
  // Starting it again (the engine re-attaching) runs nothing: the result stands.
  expect(await restarted.start({ executionId, manifestDigest: digest })).toEqual({ executor: 'deliver', executionId });
  await restarted.settled();
  expect(await restarted.inspect({ executor: 'deliver', executionId })).toMatchObject({ state: 'exited', outcome: 'failed' });
  expect(await restarted.inspect({ executor: 'deliver', executionId: 'r-1/ship/2' })).toMatchObject({ state: 'unknown' });
  await expect(restarted.inspect({ executor: 'local', executionId })).rejects.toMatchObject({ code: 'CAIRN_EXECUTOR_HANDLE_INVALID' });
});

test('a manifest that is missing or malformed is never run: the attempt is unknown, with why', async () => {
  const deliveries = executor();
  const exits: [string, ExecutionStatus][] = [];
  deliveries.onExit((executionId, status) => exits.push([executionId, status]));
  const bytes = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.cairn.manifest+json', payload: '', signatures: [] }));
  const digest = sha256Digest(bytes);
  await storage.put(`manifests/${digest.slice(7)}.json`, bytes);
  await deliveries.start({ executionId: 'r-2/fix/1', manifestDigest: digest });
  await deliveries.start({ executionId: 'r-2/gone/1', manifestDigest: `sha256:${'2'.repeat(64)}` });
  await deliveries.settled();
  exits.sort(([a], [b]) => a.localeCompare(b));
  expect(exits.map(([executionId, status]) => [executionId, status.state])).toEqual([
    ['r-2/fix/1', 'unknown'],
    ['r-2/gone/1', 'unknown'],
  ]);
  expect(exits[1]![1].reason).toContain('is not in storage');
  expect(await storage.get(resultKey('r-2/fix/1'))).toBeNull();
});

/**
 * The stored manifest of a deliver item whose `from` item made no patch: the delivery runs, fails
 * (CAIRN_NOT_FOUND, nothing pushed) and records its result, as a real one does.
 */
async function storedDelivery(executionId: string): Promise<`sha256:${string}`> {
  const [runId, itemId] = executionId.split('/') as [string, string];
  const manifest: DispatchManifest = {
    version: 'cairn.manifest/v1',
    runId,
    itemId,
    attempt: 1,
    fencingToken: 1,
    executionId,
    runtime: { kind: 'deliver', forge: 'origin', from: 'make', branch: 'cairn/fix', base: 'main', title: 'Fix' },
    workspace: sha256Digest('workspace'),
    inputs: {},
    apply: [],
    env: {},
    secretNames: [],
    limits: { timeoutMs: 600_000, network: true, maxPatchBytes: 1_000_000, maxLogBytes: 100_000 },
    effect: 'write-impure',
    issuedAt: '2026-11-27T08:00:00.000Z',
  };
  const envelope = {
    payloadType: 'application/vnd.cairn.manifest+json',
    payload: Buffer.from(JSON.stringify(manifest)).toString('base64'),
    signatures: [{ keyid: 'test', sig: Buffer.from('not checked by this executor').toString('base64') }],
  };
  const bytes = Buffer.from(JSON.stringify(envelope));
  const digest = sha256Digest(bytes);
  await storage.put(manifestKey(digest), bytes);
  return digest;
}

test('a status pushed to the engine is forgotten: many deliveries hold none; asked again, the result record answers, or unknown without one', async () => {
  const deliveries = executor();
  const exits = new Map<string, ExecutionStatus>();
  deliveries.onExit((executionId, status) => exits.set(executionId, status));
  for (let round = 0; round < 4; round++) {
    const started = Array.from({ length: 50 }, (_, index) => `r-3-${round}/ship-${index}/1`);
    await Promise.all(started.map(async (executionId) => deliveries.start({ executionId, manifestDigest: await storedDelivery(executionId) })));
    await deliveries.settled();
    expect(started.every((executionId) => exits.get(executionId)?.outcome === 'failed')).toBe(true);
    expect(deliveries.heldStatuses).toBe(0);
  }
  expect(exits.size).toBe(200);
  // Forgotten, and asked again (the engine reconciling after a restart of its loop): the stored result, unchanged.
  const [executionId, pushed] = [...exits][0]!;
  expect(pushed).toMatchObject({ state: 'exited', outcome: 'failed', resultKey: resultKey(executionId) });
  // The pushed exit carries the record as it was stored (ADR 0060).
  expect(pushed.result).toEqual(JSON.parse(Buffer.from((await storage.get(resultKey(executionId)))!).toString('utf8')));
  expect(await deliveries.inspect({ executor: 'deliver', executionId })).toEqual(pushed);
  // Started again, it runs nothing: its result stands and is pushed once more.
  exits.clear();
  await deliveries.start({ executionId, manifestDigest: `sha256:${'3'.repeat(64)}` });
  await deliveries.settled();
  expect(exits.get(executionId)).toEqual(pushed);
  // One that left no result (its manifest is missing): `unknown` when pushed, and the seam's answer for a forgotten task after.
  await deliveries.start({ executionId: 'r-3/gone/1', manifestDigest: `sha256:${'4'.repeat(64)}` });
  await deliveries.settled();
  expect(exits.get('r-3/gone/1')).toMatchObject({ state: 'unknown', reason: expect.stringContaining('is not in storage') });
  expect(deliveries.heldStatuses).toBe(0);
  expect(await deliveries.inspect({ executor: 'deliver', executionId: 'r-3/gone/1' })).toEqual({
    state: 'unknown',
    reason: 'no result of this delivery was recorded: the server running it stopped, or it could not store one',
  });
});

test('with no listener, a finished status is held until inspect answers it, then forgotten', async () => {
  const deliveries = executor();
  const executionId = 'r-4/ship/1';
  await deliveries.start({ executionId, manifestDigest: await storedDelivery(executionId) });
  await deliveries.start({ executionId: 'r-4/gone/1', manifestDigest: `sha256:${'5'.repeat(64)}` });
  await deliveries.settled();
  expect(deliveries.heldStatuses).toBe(2);
  const gone = await deliveries.inspect({ executor: 'deliver', executionId: 'r-4/gone/1' });
  expect(gone).toMatchObject({ state: 'unknown', reason: expect.stringContaining('is not in storage') });
  const first = await deliveries.inspect({ executor: 'deliver', executionId });
  expect(first).toMatchObject({ state: 'exited', outcome: 'failed', resultKey: resultKey(executionId) });
  expect(deliveries.heldStatuses).toBe(0);
  expect(await deliveries.inspect({ executor: 'deliver', executionId })).toEqual(first);
  expect(await deliveries.inspect({ executor: 'deliver', executionId: 'r-4/gone/1' })).toMatchObject({ state: 'unknown' });
});
