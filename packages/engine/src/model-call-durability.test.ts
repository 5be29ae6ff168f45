// A model call's entry and the bodies it names (ADR 0059): the gateway hands `recordModelCall` the
// promise of the bodies being made durable in storage, and no commit (SQLite's WAL fsync,
// PostgreSQL's transaction) lands before it settles; bodies that cannot be made durable break the
// commit, as a failed flush does.
import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { ana, backends, engineHarness, eventually } from './engine.test-support.ts';
import type { ModelCall } from './dispatch/model-call-recorder.ts';

const digest = (character: string) => `sha256:${character.repeat(64)}` as const;
const answered = (executionId: string): ModelCall => ({
  executionId,
  provider: 'openai',
  api: 'openai-chat',
  model: 'gpt-4o-mini',
  stream: false,
  request: digest('a'),
  response: digest('b'),
  outcome: 'success',
  status: 200,
  latencyMs: 3,
});

/** A started engine (of `engineWith`) with one attempt running, everything before it committed. */
async function withLiveAttempt(engineWith: ReturnType<typeof engineHarness>['engineWith']) {
  const { engine } = await engineWith();
  engine.start();
  const { runId } = engine.submit(
    { version: 1, name: 'calls', items: [{ id: 'agent', runtime: { kind: 'command', argv: ['sleep', '60000'] } }] },
    { actor: ana },
  );
  const executionId = `${runId}/agent/1`;
  await eventually(() => engine.liveAttempt(executionId) !== undefined);
  await engine.committed();
  return { engine, runId, executionId };
}

describe.each(backends)('on %s', (backend) => {
  const { engineWith } = engineHarness(backend);

  test("the commit after a model call's entry lands only once the call's bodies are durable", async () => {
    const { engine, runId, executionId } = await withLiveAttempt(engineWith);
    let durable!: () => void;
    const stored = new Promise<void>((resolve) => (durable = resolve));
    const entry = engine.recordModelCall(answered(executionId), stored);
    expect(entry.runId).toBe(runId);
    let landed = false;
    const committed = engine.committed().then(() => (landed = true));
    await sleep(100);
    expect(landed).toBe(false);
    durable();
    await committed;
    expect(landed).toBe(true);
    // Held no more: the next commit lands by itself.
    await engine.committed();
  });

  test('a call recorded for an attempt that is not running holds nothing', async () => {
    const { engine } = await withLiveAttempt(engineWith);
    const never = new Promise<void>(() => {});
    expect(() => engine.recordModelCall(answered('no-such-run/agent/1'), never)).toThrow(/not running/);
    await engine.committed();
  });
});

describe('on sqlite', () => {
  const { engineWith } = engineHarness('sqlite');

  test('bodies that could not be made durable break the commit with their error: nothing decided since leaves the engine', async () => {
    const { engine, executionId } = await withLiveAttempt(engineWith);
    const failure = new CairnError('CAIRN_STATE_UNAVAILABLE', 'the bodies of a model call could not be made durable');
    engine.recordModelCall(answered(executionId), Promise.reject(failure));
    await expect(engine.committed()).rejects.toBe(failure);
    await expect(engine.committed()).rejects.toBe(failure);
    await eventually(() => engine.health().ready === false);
    expect(engine.health().reason).toContain('the bodies of a model call could not be made durable');
  });
});
