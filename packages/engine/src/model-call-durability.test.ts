// A model call's entry and the bodies it names (ADR 0059): the gateway hands `recordModelCall` the
// promise of the bodies being made durable in storage, and the entry is written only once it
// resolves (on SQLite an entry is in the WAL from its write, where the kernel may write it back at
// any moment), a commit asked for meanwhile carrying it and the attempt's end waiting for it; bodies
// that cannot be made durable leave no entry and break the commit.
import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { ana, backends, engineHarness, eventually, openHarnessGate } from './engine.test-support.ts';
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

/** A started engine (of `engineWith`) with one attempt running `argv`, everything before it committed. */
async function withLiveAttempt(engineWith: ReturnType<typeof engineHarness>['engineWith'], argv = ['sleep', '60000']) {
  const { engine } = await engineWith();
  engine.start();
  const { runId } = engine.submit({ version: 1, name: 'calls', items: [{ id: 'agent', runtime: { kind: 'command', argv } }] }, { actor: ana });
  const executionId = `${runId}/agent/1`;
  await eventually(() => engine.liveAttempt(executionId) !== undefined);
  await engine.committed();
  const actions = () => [...engine.audit.runEntries(runId)].map((entry) => entry.action);
  return { engine, runId, executionId, actions };
}

/** A promise of bodies being made durable, and what settles it. */
function bodiesBeingStored() {
  let durable!: () => void;
  const stored = new Promise<void>((resolve) => (durable = resolve));
  return { stored, durable };
}

describe.each(backends)('on %s', (backend) => {
  const { engineWith } = engineHarness(backend);

  test("a model call's entry is written only once its bodies are durable, and a commit asked for meanwhile carries it", async () => {
    const { engine, runId, executionId, actions } = await withLiveAttempt(engineWith);
    const { stored, durable } = bodiesBeingStored();
    const recorded = engine.recordModelCall(answered(executionId), stored);
    let landed = false;
    const committed = engine.committed().then(() => (landed = true));
    await sleep(100);
    expect(actions()).not.toContain('model.called');
    expect(landed).toBe(false);
    durable();
    const entry = await recorded;
    expect(entry.runId).toBe(runId);
    await committed;
    expect(actions().filter((action) => action === 'model.called')).toHaveLength(1);
    // Held no more: the next commit lands by itself.
    await engine.committed();
  });

  test("an attempt's end waits for the entries of its calls still waiting for their bodies: they come before it", async () => {
    const gate = `model-call-end-${backend}`;
    const { engine, executionId, actions } = await withLiveAttempt(engineWith, ['wait-for', gate]);
    const { stored, durable } = bodiesBeingStored();
    const recorded = engine.recordModelCall(answered(executionId), stored);
    // The agent exits: its end is reported, and waits.
    openHarnessGate(gate);
    await sleep(300);
    expect(engine.liveAttempt(executionId)).toBeDefined();
    expect(actions()).not.toContain('attempt.completed');
    durable();
    await recorded;
    await eventually(() => engine.liveAttempt(executionId) === undefined);
    expect(engine.liveAttempt(executionId)).toBeUndefined();
    const ended = actions();
    expect(ended.indexOf('model.called')).toBeGreaterThan(-1);
    expect(ended.indexOf('model.called')).toBeLessThan(ended.indexOf('attempt.completed'));
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

  test('bodies that could not be made durable leave no entry and break the commit with their error: nothing decided since leaves the engine', async () => {
    const { engine, executionId, actions } = await withLiveAttempt(engineWith);
    const failure = new CairnError('CAIRN_STATE_UNAVAILABLE', 'the bodies of a model call could not be made durable');
    await expect(engine.recordModelCall(answered(executionId), Promise.reject(failure))).rejects.toBe(failure);
    expect(actions()).not.toContain('model.called');
    await expect(engine.committed()).rejects.toBe(failure);
    await expect(engine.committed()).rejects.toBe(failure);
    await eventually(() => engine.health().ready === false);
    expect(engine.health().reason).toContain('the bodies of a model call could not be made durable');
  });

  test('closing the engine waits for the entries of calls still waiting for their bodies', async () => {
    const { engine, executionId } = await withLiveAttempt(engineWith);
    const { stored, durable } = bodiesBeingStored();
    const recorded = engine.recordModelCall(answered(executionId), stored);
    const closed = engine.close();
    await sleep(50);
    durable();
    await closed;
    await expect(recorded).resolves.toMatchObject({ action: 'model.called' });
  });
});
