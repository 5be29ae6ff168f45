import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditActor, CairnEvent } from '@cairn/core';
import { createInMemoryCipher } from '@cairn/conformance/mocks';
import { isCairnError } from '@cairn/protocol';
import { describe, expect, test, vi } from 'vitest';
import { AuditLog } from './audit/audit-log.ts';
import { ana, collect, engineHarness, eventually, backends, openHarnessGate } from './engine.test-support.ts';

describe.each(backends)('on %s', (backend) => {
  const { engineWith, runs, secretsReceived } = engineHarness(backend);
  const bo: AuditActor = { kind: 'user', id: 'bo', via: 'http' };
  const command = (...argv: string[]) => ({ kind: 'command' as const, argv });
  const states = (items: { itemId: string; state: string }[]) => Object.fromEntries(items.map((item) => [item.itemId, item.state]));

  describe('cancelling one item', () => {
    test('a running item is stopped through its executor at once, ends cancelled by its actor, and its dependents are skipped', async () => {
      // A reconcile interval of a minute: only the cancel itself can stop the task in time.
      const { engine } = await engineWith({ reconcileIntervalMs: 60_000 });
      engine.start();
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'cancel-one',
          items: [
            { id: 'long', runtime: command('sleep', '10000') },
            { id: 'after', dependsOn: ['long'], runtime: command('true') },
            { id: 'other', runtime: command('true') },
          ],
        },
        { actor: ana },
      );
      await eventually(() => engine.items(runId).find((item) => item.itemId === 'long')!.state === 'running');
      const started = performance.now();
      engine.cancelItem(runId, 'long', bo);
      const run = await engine.waitForRun(runId);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(states(engine.items(runId))).toEqual({ long: 'cancelled', after: 'skipped', other: 'succeeded' });
      // The run did not do everything it was asked: it fails, and says which item counted against it.
      expect(run).toMatchObject({ state: 'failed', itemsFailed: 1 });
      const cancelled = engine.audit.runEntries(runId).find((entry) => entry.action === 'item.cancelled')!;
      expect(cancelled.actor).toEqual(bo);
      expect(engine.audit.runEntries(runId).find((entry) => entry.action === 'attempt.cancelled')!.data['reason']).toBe('the item is being cancelled');
    });

    test('an item that has not started is cancelled at once; one that ended cannot be cancelled', async () => {
      const { engine } = await engineWith();
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'cancel-blocked',
          items: [
            { id: 'a', runtime: command('true') },
            { id: 'b', dependsOn: ['a'], runtime: command('true') },
          ],
        },
        { actor: ana },
      );
      engine.cancelItem(runId, 'b', bo);
      expect(states(engine.items(runId))).toEqual({ a: 'ready', b: 'cancelled' });
      engine.start();
      expect((await engine.waitForRun(runId)).state).toBe('failed');
      try {
        engine.cancelItem(runId, 'a', bo);
        expect.unreachable();
      } catch (error) {
        expect(isCairnError(error, 'CAIRN_LIFECYCLE_TRANSITION_INVALID')).toBe(true);
        expect((error as Error).message).toMatch(/item a of run .* cannot go from succeeded to cancelled/);
      }
    });
  });

  describe('a run whose budget is spent', () => {
    const agent = { kind: 'agent' as const, adapter: 'openai-compatible', prompt: 'Fix it.' };
    const budgeted = {
      version: 1,
      name: 'budgeted',
      budget: { usd: 1 },
      items: [
        { id: 'first', runtime: command('sleep', '300') },
        { id: 'agent', dependsOn: ['first'], runtime: agent },
        { id: 'script', dependsOn: ['first'], runtime: command('true') },
      ],
    };

    test('awaits a raise starting no agent item (command items go on), runs again once raised, and both are audited', async () => {
      const { engine } = await engineWith();
      engine.start();
      const { runId } = engine.submit(budgeted, { actor: ana });
      await eventually(() => engine.run(runId)?.state === 'running');
      const spent = { spent: { costUsd: 1.2, inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, calls: 1 }, budget: { usd: 1 } };
      expect(engine.awaitBudget(runId, spent)).toBe(true);
      // Told again (another call saw it too): nothing more happens.
      expect(engine.awaitBudget(runId, spent)).toBe(false);
      expect(engine.run(runId)?.state).toBe('awaiting-budget');
      await eventually(() => states(engine.items(runId))['script'] === 'succeeded');
      await sleep(100);
      expect(states(engine.items(runId))).toEqual({ first: 'succeeded', agent: 'ready', script: 'succeeded' });
      expect(engine.run(runId)?.state).toBe('awaiting-budget');
      engine.raiseBudget(runId, { usd: 5 }, bo, 'the refactor is worth it');
      const run = await engine.waitForRun(runId);
      expect(run.state).toBe('succeeded');
      const entries = engine.audit.runEntries(runId).filter((entry) => entry.action.startsWith('run.budget'));
      expect(entries.map((entry) => [entry.action, entry.actor.id, entry.data])).toEqual([
        ['run.budget-exhausted', 'engine', spent],
        ['run.budget-raised', 'bo', { budget: { usd: 5 }, reason: 'the refactor is worth it', state: 'running' }],
      ]);
      const events = await collect(engine.events({ runId, follow: false }));
      expect(events.flatMap((event) => (event.type === 'run.state' ? [event.state] : []))).toEqual([
        'queued',
        'running',
        'awaiting-budget',
        'running',
        'succeeded',
      ]);
    });

    test("its waiting agent items are set aside: more of them than a dispatch pass reads do not hold back another run's items", async () => {
      // One task at a time: a pass reads at most 68 ready items, fewer than the 100 agents waiting.
      const { engine } = await engineWith({ concurrency: 1 });
      engine.start();
      const wide = {
        version: 1,
        name: 'wide',
        budget: { usd: 1 },
        items: [
          { id: 'first', runtime: command('sleep', '200') },
          ...Array.from({ length: 100 }, (_, index) => ({ id: `agent-${index}`, dependsOn: ['first'], runtime: agent })),
        ],
      };
      const { runId } = engine.submit(wide, { actor: ana });
      await eventually(() => engine.run(runId)?.state === 'running');
      engine.awaitBudget(runId, { budget: { usd: 1 } });
      await eventually(() => states(engine.items(runId))['first'] === 'succeeded');
      const other = engine.submit({ version: 1, name: 'other', items: [{ id: 'a', runtime: command('true') }] }, { actor: ana });
      expect((await engine.waitForRun(other.runId)).state).toBe('succeeded');
      const waiting = engine.items(runId).filter((item) => item.itemId.startsWith('agent-'));
      expect(new Set(waiting.map((item) => `${item.state} ${item.readyAt}`))).toEqual(new Set(['ready null']));
      engine.raiseBudget(runId, { usd: 2 }, bo, 'go on');
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    });

    test('a run awaiting a raise can be cancelled; one that ended cannot be raised', async () => {
      const { engine } = await engineWith();
      engine.start();
      const { runId } = engine.submit(budgeted, { actor: ana });
      await eventually(() => engine.run(runId)?.state === 'running');
      engine.awaitBudget(runId, { budget: { usd: 1 } });
      engine.cancelRun(runId, bo, 'too dear');
      expect((await engine.waitForRun(runId)).state).toBe('cancelled');
      expect(() => engine.raiseBudget(runId, { usd: 5 }, bo, 'late')).toThrow(/has ended \(cancelled\): its budget can no longer be raised/);
    });
  });

  describe('approvals', () => {
    const gated = {
      version: 1,
      name: 'gated',
      items: [
        { id: 'review', approval: 'required', runtime: command('true') },
        { id: 'ship', dependsOn: ['review'], runtime: command('true') },
      ],
    };

    test('a rejected item fails with the reason, audited with its actor, and what depends on it is skipped', async () => {
      const { engine } = await engineWith();
      engine.start();
      const { runId } = engine.submit(gated, { actor: ana });
      expect(states(engine.items(runId))).toEqual({ review: 'awaiting-approval', ship: 'blocked' });
      engine.reject(runId, 'review', bo, 'the diff touches billing');
      expect((await engine.waitForRun(runId)).state).toBe('failed');
      expect(states(engine.items(runId))).toEqual({ review: 'failed', ship: 'skipped' });
      const rejected = engine.audit.runEntries(runId).find((entry) => entry.action === 'item.rejected')!;
      expect([rejected.actor.id, rejected.data['reason']]).toEqual(['bo', 'the diff touches billing']);
      expect(() => engine.approve(runId, 'review', bo)).toThrow(/is failed, not awaiting approval/);
      // The item says why it failed, though no attempt of it ran.
      expect(engine.items(runId).find((item) => item.itemId === 'review')!.failure).toEqual({
        code: 'CAIRN_APPROVAL_REJECTED',
        message: "bo rejected the item's approval: the diff touches billing. It did not run.",
        exitCode: null,
        signal: null,
        stderrTail: '',
      });
      expect(engine.audit.runEntries(runId).find((entry) => entry.action === 'item.failed')!.data['failure']).toEqual({ code: 'CAIRN_APPROVAL_REJECTED' });
      expect(engine.items(runId).find((item) => item.itemId === 'ship')!.failure).toBeNull();
      expect(engine.attempts(runId, 'review')).toEqual([]);
    });

    test('an approval that does not come in time fails the item', async () => {
      const { engine } = await engineWith({ approvalTimeoutMs: 60 });
      engine.start();
      const { runId } = engine.submit(gated, { actor: ana });
      const started = performance.now();
      expect((await engine.waitForRun(runId)).state).toBe('failed');
      expect(performance.now() - started).toBeGreaterThanOrEqual(50);
      const failed = engine.audit.runEntries(runId).find((entry) => entry.action === 'item.failed')!;
      expect(failed.data['reason']).toBe('no approval within 60 ms');
      expect(failed.data['failure']).toEqual({ code: 'CAIRN_APPROVAL_TIMED_OUT' });
      expect(engine.items(runId).find((item) => item.itemId === 'review')!.failure).toMatchObject({
        code: 'CAIRN_APPROVAL_TIMED_OUT',
        message: expect.stringContaining('60 ms'),
      });
      expect(engine.audit.runEntries(runId).find((entry) => entry.action === 'item.approval-requested')!.data['deadline']).toMatch(/^\d{4}-/);
    });

    test('an approval asked for after the loop found none awaited still times out on time, also when it comes after a prerequisite', async () => {
      const { engine } = await engineWith({ approvalTimeoutMs: 60 });
      engine.start();
      // The loop runs a while with no item awaiting approval: it knows there is none.
      const warmUp = engine.submit({ version: 1, name: 'warm-up', items: [{ id: 'a', runtime: command('true') }] }, { actor: ana });
      expect((await engine.waitForRun(warmUp.runId)).state).toBe('succeeded');
      await sleep(50);
      const { runId } = engine.submit(gated, { actor: ana });
      expect((await engine.waitForRun(runId)).state).toBe('failed');
      expect(engine.items(runId).find((item) => item.itemId === 'review')!.failure).toMatchObject({ code: 'CAIRN_APPROVAL_TIMED_OUT' });
      const after = engine.submit(
        {
          version: 1,
          name: 'gated-later',
          items: [
            { id: 'build', runtime: command('sleep', '30') },
            { id: 'review', dependsOn: ['build'], approval: 'required', runtime: command('true') },
          ],
        },
        { actor: ana },
      );
      expect((await engine.waitForRun(after.runId)).state).toBe('failed');
      expect(engine.items(after.runId).find((item) => item.itemId === 'review')!.failure).toMatchObject({ code: 'CAIRN_APPROVAL_TIMED_OUT' });
    });
  });

  describe('secrets', () => {
    test('values are handed to the executor out of band and never enter a manifest, an audit entry or an event', async () => {
      const { engine, storage } = await engineWith({ cipher: createInMemoryCipher() });
      const value = 'sk-live-7f3a9c1e5b';
      expect(await engine.setSecret('API_KEY', value, ana)).toMatchObject({ name: 'API_KEY', version: 1 });
      expect(await engine.setSecret('API_KEY', `${value}-rotated`, ana)).toMatchObject({ version: 2 });
      expect(engine.secrets().map(({ name, version }) => [name, version])).toEqual([['API_KEY', 2]]);
      engine.start();
      const { runId } = engine.submit(
        { version: 1, name: 'with-secret', items: [{ id: 'call', secrets: ['API_KEY'], runtime: command('true') }] },
        { actor: ana },
      );
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      expect(secretsReceived.get(`${runId}/call/1`)).toEqual({ API_KEY: `${value}-rotated` });
      // Names and the version, never the value.
      expect(engine.audit.runEntries(runId).find((entry) => entry.action === 'attempt.dispatched')!.data['secrets']).toEqual({ API_KEY: 2 });
      const everything = [
        JSON.stringify([...engine.audit.entries()]),
        JSON.stringify(await collect(engine.events({ follow: false }))),
        ...(await Promise.all((await storage.list({ prefix: '' })).keys.map(async (key) => new TextDecoder().decode((await storage.get(key))!)))),
      ].join('\n');
      expect(everything).not.toContain(value);
      expect(everything).toContain('API_KEY');
    });

    test('an unknown secret is refused at submit, naming where; a secret removed later fails the item with the reason', async () => {
      const { engine } = await engineWith({ cipher: createInMemoryCipher() });
      await engine.setSecret('TOKEN', 'abc', ana);
      try {
        engine.submit({ version: 1, name: 'typo', items: [{ id: 'a', secrets: ['TOKEN', 'TOKNE'], runtime: command('true') }] }, { actor: ana });
        expect.unreachable();
      } catch (error) {
        expect(isCairnError(error, 'CAIRN_RUN_SPEC_INVALID')).toBe(true);
        expect((error as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual(['$.items[0].secrets[1]']);
      }
      const { runId } = engine.submit({ version: 1, name: 'removed', items: [{ id: 'a', secrets: ['TOKEN'], runtime: command('true') }] }, { actor: ana });
      engine.removeSecret('TOKEN', bo);
      engine.start();
      expect((await engine.waitForRun(runId)).state).toBe('failed');
      expect(String(engine.audit.runEntries(runId).find((entry) => entry.action === 'item.failed')!.data['reason'])).toMatch(/^secret TOKEN does not exist/);
    });

    test('without a cipher, setting a secret is refused with the option to configure', async () => {
      const { engine } = await engineWith();
      await expect(engine.setSecret('TOKEN', 'abc', ana)).rejects.toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'engine.cipher' });
    });

    test('a name that is not an environment variable name, or an empty value, is refused naming the field', async () => {
      const { engine } = await engineWith({ cipher: createInMemoryCipher() });
      await expect(engine.setSecret('not a name', 'abc', ana)).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'name' });
      await expect(engine.setSecret('EMPTY', '', ana)).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'value' });
      expect(engine.secrets()).toEqual([]);
    });
  });

  describe('pure items', () => {
    const spec = (name: string, argv: string[]) => ({
      version: 1,
      name,
      items: [
        { id: 'build', effect: 'pure', runtime: command(...argv) },
        { id: 'after', dependsOn: ['build'], runtime: command('true') },
      ],
    });

    test('reuse an earlier success with the same inputs, audited as a reuse naming it; other inputs run', async () => {
      const { engine } = await engineWith();
      engine.start();
      const first = engine.submit(spec('first', ['true', 'x']), { actor: ana });
      await engine.waitForRun(first.runId);
      const second = engine.submit(spec('second', ['true', 'x']), { actor: ana });
      expect((await engine.waitForRun(second.runId)).state).toBe('succeeded');
      expect(runs.has(`${second.runId}/build/1`)).toBe(false);
      const reused = engine.audit.runEntries(second.runId).find((entry) => entry.action === 'item.reused')!;
      expect(reused.data['from']).toEqual({ runId: first.runId, itemId: 'build', attempt: 1 });
      expect(
        engine.audit
          .runEntries(second.runId)
          .filter((entry) => entry.action === 'attempt.dispatched')
          .map((entry) => entry.data['itemId']),
      ).toEqual(['after']);
      const third = engine.submit(spec('third', ['true', 'y']), { actor: ana });
      await engine.waitForRun(third.runId);
      expect(runs.get(`${third.runId}/build/1`)).toBe(1);
    });

    test('a failed pure attempt is never reused', async () => {
      const { engine } = await engineWith();
      engine.start();
      const first = engine.submit(spec('first', ['exit', '2']), { actor: ana });
      expect((await engine.waitForRun(first.runId)).state).toBe('failed');
      const second = engine.submit(spec('second', ['exit', '2']), { actor: ana });
      await engine.waitForRun(second.runId);
      expect(runs.get(`${second.runId}/build/1`)).toBe(1);
    });
  });

  describe('events', () => {
    const fanout = (name: string, count: number) => ({
      version: 1,
      name,
      items: Array.from({ length: count }, (_, index) => ({ id: `i${index}`, runtime: command('true') })),
    });

    test('a stream resumed after the last id it saw has no gaps and no duplicates, and follows new runs live', async () => {
      const { engine } = await engineWith();
      engine.start();
      const { runId } = engine.submit(fanout('events', 30), { actor: ana });
      await engine.waitForRun(runId);
      const all = await collect(engine.events({ follow: false }));
      const firstPart: CairnEvent[] = [];
      for await (const event of engine.events({ follow: false })) {
        firstPart.push(event);
        if (firstPart.length === 40) break;
      }
      const rest = await collect(engine.events({ after: firstPart.at(-1)!.id, follow: false }));
      expect([...firstPart, ...rest]).toEqual(all);
      expect(new Set(all.map((event) => event.id)).size).toBe(all.length);
      expect(all.filter((event) => event.type === 'item.state' && event.state === 'succeeded')).toHaveLength(30);
      expect(all.at(-1)).toMatchObject({ type: 'run.state', state: 'succeeded', runId });

      // Following: events of a run submitted after the subscription arrive as they happen.
      const controller = new AbortController();
      const live: CairnEvent[] = [];
      const following = (async () => {
        for await (const event of engine.events({ after: all.at(-1)!.id, signal: controller.signal })) {
          live.push(event);
          if (event.type === 'run.state' && event.state === 'succeeded') controller.abort();
        }
      })();
      const next = engine.submit(fanout('later', 3), { actor: ana });
      await following;
      expect(live.every((event) => event.runId === next.runId)).toBe(true);
      expect(live.map((event) => `${event.type}:${'itemId' in event ? event.itemId : ''}:${event.state}`)).toContain('item.state:i2:running');
    });

    test('a subscriber that never reads does not stall the engine, and a per-run stream sees only its run', async () => {
      const { engine } = await engineWith({ concurrency: 64 });
      engine.start();
      const { runId } = engine.submit(fanout('busy', 300), { actor: ana });
      const stalled = engine.events();
      await stalled.next();
      const other = engine.submit(fanout('other', 2), { actor: ana });
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      await engine.waitForRun(other.runId);
      const ofRun = await collect(engine.events({ runId: other.runId, follow: false }));
      expect(new Set(ofRun.map((event) => event.runId))).toEqual(new Set([other.runId]));
      expect(ofRun.map((event) => event.type === 'run.state' && event.state)).toContain('succeeded');
      // The stalled subscriber still gets everything, from where it stopped.
      let seen = 1;
      for await (const event of stalled) {
        seen++;
        if (event.type === 'run.state' && event.runId === other.runId && event.state === 'succeeded') break;
      }
      expect(seen).toBeGreaterThan(600);
    });

    test('a following stream of some types reads on from where its last read ended, not again from the last event it kept', async () => {
      const { engine } = await engineWith({ concurrency: 8 });
      const reads = vi.spyOn(AuditLog.prototype, 'runEntriesAfter');
      try {
        engine.start();
        // Forty quick items, then one that waits for them and takes 300 ms: the stream is woken
        // by commits after the quick items' entries and before the run ends, whatever the timing.
        const quick = fanout('followed', 40);
        const last = { id: 'last', dependsOn: quick.items.map((item) => item.id), runtime: command('sleep', '300') };
        const { runId } = engine.submit({ ...quick, items: [...quick.items, last] }, { actor: ana });
        const seen: CairnEvent[] = [];
        for await (const event of engine.events({ runId, types: ['run.state'] })) {
          seen.push(event);
          if (event.type === 'run.state' && event.state === 'succeeded') break;
        }
        expect(seen.map((event) => event.type === 'run.state' && event.state)).toEqual(['queued', 'running', 'succeeded']);
        const running = seen[1]!.id;
        const ofStream = reads.mock.calls.filter((call) => call[0] === runId && call[3] !== undefined).map((call) => call[1]);
        // Woken by the commits between `running` and `succeeded` (the quick items' 160 entries and
        // more), the stream read on from the log's end each time: a later read started past them.
        expect(ofStream.length).toBeGreaterThan(2);
        expect(Math.max(...ofStream)).toBeGreaterThan(running + 100);
      } finally {
        reads.mockRestore();
      }
    });

    test('a stream of some types reads only the entries that can become them, not every entry of the run', async () => {
      const { engine } = await engineWith({ concurrency: 64 });
      engine.start();
      const { runId } = engine.submit(fanout('typed', 200), { actor: ana });
      await engine.waitForRun(runId);
      // Each entry read from the database is parsed once: the count tells how many were read.
      const parse = vi.spyOn(JSON, 'parse');
      try {
        const states = await collect(engine.events({ runId, types: ['run.state'], follow: false }));
        expect(states.map((event) => event.type === 'run.state' && event.state)).toEqual(['queued', 'running', 'succeeded']);
        // The run has over 1,000 entries (five an item); its three run entries are read, not all of them.
        expect(parse.mock.calls.length).toBeLessThan(10);
        parse.mockClear();
        expect(await collect(engine.events({ types: ['run.state'], follow: false }))).toEqual(states);
        expect(parse.mock.calls.length).toBeLessThan(10);
      } finally {
        parse.mockRestore();
      }
    });
    test('a following stream of some types reads the log when an entry of theirs was appended, not at every commit', async () => {
      const { engine } = await engineWith({ concurrency: 8 });
      const { runId } = engine.submit(fanout('quiet', 200), { actor: ana });
      const reads = vi.spyOn(AuditLog.prototype, 'runEntriesAfter');
      const commits = vi.spyOn(AuditLog.prototype, 'append');
      try {
        const controller = new AbortController();
        const states: string[] = [];
        const following = (async () => {
          for await (const event of engine.events({ runId, types: ['run.state'], signal: controller.signal })) {
            if (event.type !== 'run.state') continue;
            states.push(event.state);
            if (event.state === 'succeeded') controller.abort();
          }
        })();
        engine.start();
        await engine.waitForRun(runId);
        await following;
        expect(states).toEqual(['queued', 'running', 'succeeded']);
        // 200 items eight at a time append over 800 entries in dozens of commits; the stream
        // read at its start and after its run's own few entries.
        expect(commits.mock.calls.length).toBeGreaterThan(800);
        expect(reads.mock.calls.length).toBeLessThanOrEqual(6);
      } finally {
        reads.mockRestore();
        commits.mockRestore();
      }
    });
  });

  describe('model calls the gateway refused', () => {
    test("an attempt that fails after the gateway refused its calls says so first, with the refusal's code; what its runtime said follows", async () => {
      const { engine } = await engineWith();
      engine.start();
      const gate = `refused-${backend}`;
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'refused',
          items: [
            { id: 'agent', runtime: command('wait-for', gate, '1') },
            { id: 'quiet', runtime: command('exit', '1') },
          ],
        },
        { actor: ana },
      );
      const executionId = `${runId}/agent/1`;
      await eventually(() => engine.liveAttempt(executionId) !== undefined);
      const denied = {
        executionId,
        provider: 'openai',
        api: 'openai-responses',
        model: 'gpt-5.5',
        stream: true,
        request: `sha256:${'0'.repeat(64)}`,
        outcome: 'denied',
        status: 403,
        latencyMs: 1,
        reason: 'this attempt may call no model, not "gpt-5.5": name the model in the item (runtime.model) or in gateway.models',
        refusalCode: 'CAIRN_MODEL_NOT_ALLOWED',
      } as const;
      await engine.recordModelCall(denied);
      await engine.recordModelCall(denied);
      openHarnessGate(gate);
      await engine.waitForRun(runId);
      const failure = (itemId: string) => engine.attempts(runId, itemId)[0]?.failure;
      expect(failure('agent')).toMatchObject({
        code: 'CAIRN_MODEL_NOT_ALLOWED',
        exitCode: 1,
        message:
          'The model gateway refused 2 model calls of this attempt (403 CAIRN_MODEL_NOT_ALLOWED): this attempt may call no model, not "gpt-5.5": name the model in the item (runtime.model) or in gateway.models. Then: The runtime exited with code 1.',
      });
      // An attempt the gateway refused nothing fails as its runtime said.
      expect(failure('quiet')).toMatchObject({ code: 'CAIRN_EXIT_NONZERO', message: 'The runtime exited with code 1.' });
    });
  });

  describe('metrics', () => {
    test('counts by state, queue depth and checkpoint lag, and an observer told of each start with its wait', async () => {
      const waits: number[] = [];
      const ended: string[] = [];
      const durations: number[] = [];
      const { engine } = await engineWith({
        observer: {
          attemptStarted: (event) => waits.push(event.waitMs),
          attemptEnded: (event) => (ended.push(event.outcome), durations.push(event.durationMs)),
        },
      });
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'metrics',
          items: [
            { id: 'a', runtime: command('true') },
            { id: 'b', runtime: command('exit', '1') },
            { id: 'c', approval: 'required', runtime: command('true') },
          ],
        },
        { actor: ana },
      );
      expect(engine.metrics()).toMatchObject({ runs: { queued: 1, running: 0 }, items: { ready: 2, 'awaiting-approval': 1 }, readyItems: 2, liveAttempts: 0 });
      await sleep(20);
      engine.start();
      await eventually(() => ended.length === 2);
      engine.reject(runId, 'c', bo);
      await engine.waitForRun(runId);
      expect(waits).toHaveLength(2);
      expect(Math.min(...waits)).toBeGreaterThanOrEqual(15);
      expect(ended.sort()).toEqual(['failed', 'succeeded']);
      // From dispatch to end: never negative, and no longer than the test has run.
      expect(durations.every((duration) => Number.isFinite(duration) && duration >= 0 && duration < 10_000)).toBe(true);
      const metrics = engine.metrics();
      expect(metrics).toMatchObject({ runs: { failed: 1 }, items: { succeeded: 1, failed: 2 }, readyItems: 0, liveAttempts: 0 });
      expect(metrics.auditEntries).toBe(engine.audit.size);
      await eventually(() => engine.metrics().unanchoredEntries < engine.audit.size);
      expect(engine.metrics().pendingCheckpoints).toBe(0);
    });
  });

  describe('schedules', () => {
    test('the loop fires a due slot on its own, as run <scheduleId>@<slot>, and the run goes through', { timeout: 10_000 }, async () => {
      const { engine } = await engineWith();
      engine.start();
      // Every second (six fields, seconds first): the first slot is at most a second away.
      engine.addSchedule(
        { scheduleId: 'pulse', cron: '* * * * * *', spec: { version: 1, name: 'pulse', items: [{ id: 'beat', runtime: command('true') }] } },
        ana,
      );
      expect(engine.schedules().map((schedule) => schedule.scheduleId)).toEqual(['pulse']);
      const fired = () => [...engine.audit.entries()].find((entry) => entry.action === 'schedule.fired');
      for (let wait = 0; wait < 300 && !fired(); wait++) await sleep(10);
      const runId = String(fired()!.data['runId']);
      expect(runId).toMatch(/^pulse@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      engine.removeSchedule('pulse', ana);
      expect(engine.schedules()).toEqual([]);
    });
  });

  describe('inbox', () => {
    test('a spec dropped under inbox/ of the storage is picked up by the loop and runs', { timeout: 10_000 }, async () => {
      const { engine, storage } = await engineWith({ inboxPollMs: 100 });
      engine.start();
      await storage.put(
        'inbox/dropped.yaml',
        new TextEncoder().encode('version: 1\nname: dropped\nitems:\n  - { id: a, runtime: { kind: command, argv: [make] } }\n'),
      );
      const receipt = async () => storage.get('inbox/processed/dropped.yaml.json');
      for (let wait = 0; wait < 300 && !(await receipt()); wait++) await sleep(10);
      const { runId } = JSON.parse(new TextDecoder().decode((await receipt())!)) as { runId: string };
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      expect(engine.audit.runEntries(runId)[0]!.actor.via).toBe('inbox');
      expect(await storage.get('inbox/dropped.yaml')).toBeNull();
    });
  });
});
