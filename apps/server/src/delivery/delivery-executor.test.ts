// The deliver executor's life across a restart, over real directory storage: a new instance (a
// restarted server) answers from the stored result record, a delivery that left none is unknown
// (the engine counts it lost, and a deliver item's onLost: fail makes that a failure), and a
// manifest it cannot read is never run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionStatus } from '@cairn/core';
import { createLocalStorageProvider } from '@cairn/local';
import { canonicalJsonBytes, resultKey, sha256Digest } from '@cairn/protocol';
import { afterAll, expect, test } from 'vitest';
import { DeliveredTips } from './delivered-tips.ts';
import { DeliveryExecutor } from './delivery-executor.ts';
import type { ServerForges } from './server-forges.ts';

const root = mkdtempSync(join(tmpdir(), 'cairn-delivery-executor-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const storage = createLocalStorageProvider({ root });
const executor = () =>
  new DeliveryExecutor({
    service: () => expect.unreachable('no delivery reads the engine here'),
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
  expect(await restarted.inspect({ executor: 'deliver', executionId })).toEqual({ state: 'exited', outcome: 'failed', resultKey: resultKey(executionId) });
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
