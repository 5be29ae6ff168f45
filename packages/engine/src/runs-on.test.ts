// An item's runsOn (ADR 0050): refused at submit where its executor does not choose hosts by
// labels, and handed to one that does in the task it starts, from the item or the run's defaults.
import type { TaskEnvelope } from '@cairn/core';
import { createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { isCairnError } from '@cairn/protocol';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { createEngine, type Engine } from './engine.ts';
import { ana } from './engine.test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An engine with a `local` executor and a `runners` one that declares label routing; the tasks each was given. */
function engineWithRunners(): { engine: Engine; started: Record<string, TaskEnvelope[]> } {
  const started: Record<string, TaskEnvelope[]> = { local: [], runners: [] };
  const executor = (name: string) => createInMemoryExecutor({ run: (task) => (started[name]!.push(task), 0) });
  const runners = executor('runners');
  // The in-memory executor routes nothing: declared here to see what the engine hands one that does.
  Object.defineProperty(runners, 'capabilities', { value: { ...runners.capabilities, labels: true } });
  const directory = mkdtempSync(join(tmpdir(), 'cairn-runs-on-'));
  const engine = createEngine({
    database: join(directory, 'engine.db'),
    executors: { local: executor('local'), runners },
    storage: createInMemoryStorageProvider(),
    signer: createInMemorySigner(),
    anchors: [],
  });
  cleanups.push(
    () => rmSync(directory, { recursive: true, force: true }),
    () => engine.close(),
  );
  return { engine, started };
}

const item = (id: string, extra: Record<string, unknown> = {}) => ({ id, runtime: { kind: 'command' as const, argv: ['true'] }, ...extra });

test('runsOn on an executor that does not route by labels is refused at its path, naming the executor; on runners it is accepted', () => {
  const { engine } = engineWithRunners();
  let refused: unknown;
  try {
    engine.submit({ version: 1, name: 'where', items: [item('gpu', { runsOn: { labels: ['gpu'] } })] } as never, { actor: ana });
  } catch (error) {
    refused = error;
  }
  expect(isCairnError(refused, 'CAIRN_RUN_SPEC_INVALID')).toBe(true);
  expect(refused).toMatchObject({
    path: '$.items[0].runsOn',
    message: expect.stringContaining('executor "local" does not choose hosts by labels (only "runners" does)'),
  });
  // A malformed label is refused at its path by the schema.
  expect(() =>
    engine.submit({ version: 1, name: 'bad', items: [item('x', { executor: 'runners', runsOn: { labels: ['GPU!'] } })] } as never, { actor: ana }),
  ).toThrow(/\$\.items\[0\]\.runsOn\.labels\[0\] must be a runner label/);
  expect(
    engine.submit({ version: 1, name: 'ok', items: [item('gpu', { executor: 'runners', runsOn: { labels: ['gpu'] } })] } as never, { actor: ana }).created,
  ).toBe(true);
});

test('the labels reach the runners executor in the task, from the item or the defaults; an item without runsOn gets none', async () => {
  const { engine, started } = engineWithRunners();
  engine.start();
  const { runId } = engine.submit(
    {
      version: 1,
      name: 'routed',
      defaults: { executor: 'runners', runsOn: { labels: ['pool=build'] } },
      items: [item('own', { runsOn: { labels: ['gpu', 'os=debian'] } }), item('inherited')],
    } as never,
    { actor: ana },
  );
  expect((await engine.waitForRun(runId)).state).toBe('succeeded');
  const labelsOf = (itemId: string) => started['runners']!.find((task) => task.executionId.includes(`/${itemId}/`))?.labels;
  expect(labelsOf('own')).toEqual(['gpu', 'os=debian']);
  expect(labelsOf('inherited')).toEqual(['pool=build']);
  const { runId: plain } = engine.submit({ version: 1, name: 'plain', items: [item('anywhere')] } as never, { actor: ana });
  await engine.waitForRun(plain);
  expect(started['local']!.map((task) => 'labels' in task)).toEqual([false]);
});
