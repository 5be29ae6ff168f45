import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditActor, CairnEvent } from '@cairn/core';
import { isCairnError, isTerminalState, runTransitions } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import type { Engine } from './engine.ts';
import type { EngineService } from './engine-service.ts';
import type { RunRecord } from './records/run-records.ts';

/** What a suite case gets: a service over a started engine, and that engine when it runs in this process. */
export interface ServiceUnderTest {
  readonly service: EngineService;
  /**
   * The engine the service answers for, when it is in this process: the service's answers are
   * compared with its own. Absent, only the service is asked (its answers are still checked).
   */
  readonly engine?: Engine;
}

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const bo: AuditActor = { kind: 'user', id: 'bo', via: 'http' };
const command = (...argv: string[]) => ({ kind: 'command' as const, argv });

/** Polls `read` until `done` holds (every 10 ms, up to 10 s); the last value either way. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let wait = 0; wait < 1_000 && !done(value); wait++) {
    await sleep(10);
    value = await read();
  }
  return value;
}

const ended = (run: RunRecord | undefined) => run !== undefined && isTerminalState(runTransitions, run.state);

/** Everything an async iterable yields (`Array.fromAsync`, which the compile target lacks). */
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const values: T[] = [];
  for await (const value of iterable) values.push(value);
  return values;
}

/** What a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return expect.unreachable('it resolved');
}

/**
 * The behaviour every `EngineService` must have, whatever is behind it: the in-process service
 * (SQLite mode) and a replica's service over a shared database (PostgreSQL mode) are run through
 * it. `makeService` gives a service over a started engine whose executor runs a command item's
 * argv as the engine's test harness does (`sleep N` takes N ms and stops when asked, `exit N`
 * exits N, anything else exits 0 at once) and that has a cipher (secrets can be set); the engine is
 * closed by whoever made it.
 */
export function describeEngineService(name: string, makeService: () => ServiceUnderTest | Promise<ServiceUnderTest>): void {
  describe(`engine service: ${name}`, () => {
    test('a submitted run, its items, spec, attempts, artifacts, events and audit entries are what the engine recorded', async () => {
      const { service, engine } = await makeService();
      const document = {
        version: 1,
        name: 'pair',
        items: [
          { id: 'a', runtime: command('true') },
          { id: 'b', dependsOn: ['a'], runtime: command('true') },
        ],
      };
      const submitted = await service.submit(document, { actor: ana, idempotencyKey: 'pair-1' });
      expect(submitted.created).toBe(true);
      // The same key again is the same run, not a new one.
      expect(await service.submit(document, { actor: ana, idempotencyKey: 'pair-1' })).toEqual({ ...submitted, created: false });
      const { runId } = submitted;
      const run = await until(() => service.run(runId), ended);
      expect(run).toMatchObject({ runId, name: 'pair', state: 'succeeded' });
      expect((await service.items(runId)).map((item) => [item.itemId, item.state])).toEqual([
        ['a', 'succeeded'],
        ['b', 'succeeded'],
      ]);
      expect((await service.spec(runId))?.items.map((item) => item.id)).toEqual(['a', 'b']);
      const attempts = await service.attempts(runId, 'b');
      expect(attempts.map((attempt) => [attempt.attempt, attempt.state, attempt.exitCode])).toEqual([[1, 'succeeded', 0]]);
      expect((await service.runs({ limit: 10 })).runs.map((summary) => summary.runId)).toContain(runId);

      // The run's events, in order, each once; resuming after one gives exactly the rest.
      const events = await collect(service.events({ runId, follow: false }));
      const runStates = events.flatMap((event) => (event.type === 'run.state' ? [event.state] : []));
      expect(runStates[0]).toBe('queued');
      expect(runStates.at(-1)).toBe('succeeded');
      expect(events.map((event) => event.id)).toEqual([...events.map((event) => event.id)].sort((left, right) => left - right));
      expect(await collect(service.events({ runId, after: events[2]!.id, follow: false }))).toEqual(events.slice(3));

      // The audit entries of the run, and the log's size, agree with the events.
      const entries = await collect(service.auditEntries({ runId }));
      expect(entries[0]).toMatchObject({ action: 'run.submitted', actor: { id: 'ana' } });
      expect(entries.at(-1)).toMatchObject({ action: 'run.succeeded' });
      expect(await service.auditSize()).toBeGreaterThan(entries.at(-1)!.seq);
      for (const event of events) expect(entries.map((entry) => entry.seq)).toContain(event.id);

      const metrics = await service.metrics();
      expect(metrics.runs['succeeded']).toBeGreaterThanOrEqual(1);
      expect(metrics.auditEntries).toBeGreaterThanOrEqual(entries.length);
      expect(await service.health()).toMatchObject({ ready: true });

      const bundle = await service.exportBundle(runId);
      expect(bundle.runId).toBe(runId);
      expect(bundle.entries).toEqual(entries);

      if (engine) {
        expect(await service.run(runId)).toEqual(engine.run(runId));
        expect(await service.items(runId)).toEqual(engine.items(runId));
        expect(await service.spec(runId)).toEqual(engine.spec(runId));
        expect(await service.attempts(runId, 'a')).toEqual(engine.attempts(runId, 'a'));
        expect(await service.artifacts(runId, 'a')).toEqual(engine.artifacts(runId, 'a'));
        expect(await service.runs()).toEqual(engine.runs());
        expect(entries).toEqual(engine.audit.runEntries(runId));
        expect(await collect(service.events({ follow: false }))).toEqual(await collect(engine.events({ follow: false })));
      }
    });

    test('lists runs by name, submitter and submit time, pages within the filters, and refuses bad filters naming them', async () => {
      const { service, engine } = await makeService();
      // A name no other case of the suite uses, so the service's other runs do not count here.
      const tag = `filtered-${Math.random().toString(36).slice(2, 8)}`;
      const submit = async (name: string, actor: AuditActor) =>
        (await service.submit({ version: 1, name, items: [{ id: 'a', runtime: command('true') }] }, { actor })).runId;
      const first = await submit(`${tag}-build`, ana);
      await sleep(5);
      const second = await submit(`${tag}-deploy`, bo);
      await sleep(5);
      const third = await submit(`${tag}-build`, bo);
      const runOf = async (runId: string) => (await service.run(runId))!;
      const [secondRun, thirdRun] = [await runOf(second), await runOf(third)];
      const ids = async (options: Parameters<EngineService['runs']>[0]) => (await service.runs({ limit: 500, ...options })).runs.map((run) => run.runId);
      const ours = async (options: Parameters<EngineService['runs']>[0]) => {
        const mine = new Set([first, second, third]);
        return (await ids(options)).filter((runId) => mine.has(runId));
      };

      expect(await ids({ name: `${tag}-build` })).toEqual([third, first]);
      expect(await ids({ name: `${tag}-deploy` })).toEqual([second]);
      // Exact, not a prefix or a pattern.
      expect(await ids({ name: tag })).toEqual([]);
      expect(await ids({ name: `${tag}-%` })).toEqual([]);
      expect(await ours({ submitter: 'bo' })).toEqual([third, second]);
      expect(await ids({ name: `${tag}-build`, submitter: 'ana' })).toEqual([first]);
      // After is inclusive, before exclusive: [second, third) holds the second run only.
      expect(await ours({ submittedAfter: secondRun.submittedAt })).toEqual([third, second]);
      expect(await ours({ submittedAfter: secondRun.submittedAt, submittedBefore: thirdRun.submittedAt })).toEqual([second]);
      expect(await ours({ submittedBefore: secondRun.submittedAt })).toEqual([first]);
      // An offset other than Z means the same instant.
      const sameInstantPlusOne = new Date(Date.parse(secondRun.submittedAt) + 3_600_000).toISOString().replace('Z', '+01:00');
      expect(await ours({ submittedAfter: sameInstantPlusOne, submittedBefore: thirdRun.submittedAt })).toEqual([second]);

      // Paging keeps the filters: two pages of one, then none; the cursor is refused with other filters.
      const page = await service.runs({ name: `${tag}-build`, limit: 1 });
      expect(page.runs.map((run) => run.runId)).toEqual([third]);
      const next = await service.runs({ name: `${tag}-build`, limit: 1, cursor: page.nextCursor! });
      expect(next.runs.map((run) => run.runId)).toEqual([first]);
      expect(next.nextCursor).toBeUndefined();
      expect(await rejection(service.runs({ name: `${tag}-deploy`, limit: 1, cursor: page.nextCursor! }))).toMatchObject({
        code: 'CAIRN_PAYLOAD_INVALID',
        path: 'cursor',
      });
      expect(await rejection(service.runs({ limit: 1, cursor: page.nextCursor! }))).toMatchObject({ path: 'cursor' });

      for (const [option, value] of [
        ['submittedAfter', 'yesterday'],
        ['submittedAfter', '2026-11-22'],
        ['submittedBefore', '2026-11-22T10:00:00'],
        ['submittedBefore', 'Nov 22 2026 10:00 GMT'],
        ['name', ''],
        ['submitter', ''],
      ] as const) {
        const refused = await rejection(service.runs({ [option]: value }));
        expect(refused).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: option });
        expect((refused as Error).message).toContain(option);
      }
      if (engine) {
        for (const options of [{ name: `${tag}-build` }, { submitter: 'bo', submittedAfter: secondRun.submittedAt }, { name: `${tag}-build`, limit: 1 }])
          expect(await service.runs(options)).toEqual(engine.runs(options));
      }
    });

    test('a following event stream yields what happens after it started, and ends when its signal aborts', async () => {
      const { service } = await makeService();
      const stop = new AbortController();
      const seen: CairnEvent[] = [];
      // Read before the submit: read inside the loop, a loaded machine could let the run's first entries in before it.
      const after = (await service.auditSize()) - 1;
      const following = (async () => {
        for await (const event of service.events({ after, signal: stop.signal })) seen.push(event);
      })();
      const { runId } = await service.submit({ version: 1, name: 'later', items: [{ id: 'a', runtime: command('true') }] }, { actor: ana });
      await until(
        async () => seen,
        (events) => events.some((event) => event.type === 'run.state' && event.runId === runId && event.state === 'succeeded'),
      );
      stop.abort();
      await following;
      expect(seen.filter((event) => event.runId === runId).map((event) => event.type)).toContain('item.state');
    });

    test('events of some types: exactly those of the whole stream, from any resume point, and followed live to the end of a run', async () => {
      const { service } = await makeService();
      const items = Array.from({ length: 12 }, (_, index) => ({ id: `i${index}`, runtime: command('true') }));
      const stop = new AbortController();
      const live: CairnEvent[] = [];
      const start = (await service.auditSize()) - 1;
      // Followed from before the run: entries the filter skips between wakes must not hold the
      // stream back, nor make it miss or repeat a state.
      const following = (async () => {
        for await (const event of service.events({ after: start, types: ['run.state'], signal: stop.signal })) {
          live.push(event);
          if (event.state === 'succeeded') stop.abort();
        }
      })();
      const { runId } = await service.submit({ version: 1, name: 'typed', items }, { actor: ana });
      await until(
        async () => live,
        (events) => events.some((event) => event.runId === runId && event.state === 'succeeded'),
      );
      await following;
      const all = await collect(service.events({ after: start, follow: false }));
      const ofRun = all.filter((event) => event.runId === runId);
      expect(live.filter((event) => event.runId === runId)).toEqual(ofRun.filter((event) => event.type === 'run.state'));
      const typeSets: CairnEvent['type'][][] = [['run.state'], ['item.state'], ['attempt.state'], ['run.state', 'attempt.state'], []];
      for (const types of typeSets) {
        const kept = (events: CairnEvent[]) => events.filter((event) => types.includes(event.type));
        expect(await collect(service.events({ after: start, types, follow: false }))).toEqual(kept(all));
        expect(await collect(service.events({ runId, types, follow: false }))).toEqual(kept(ofRun));
        // Resumed after any event of the run: exactly the kept ones after it.
        for (const from of [ofRun[0]!, ofRun[5]!, ofRun.at(-2)!]) {
          expect(await collect(service.events({ runId, after: from.id, types, follow: false }))).toEqual(kept(ofRun.filter((event) => event.id > from.id)));
        }
      }
      // Each item was ready, running and succeeded: the run's stream had every state to filter.
      expect(ofRun.filter((event) => event.type === 'item.state')).toHaveLength(36);
    });

    test('a bad spec, an unknown run and a wrong transition come back as the engine’s CairnErrors', async () => {
      const { service, engine } = await makeService();
      const bad = { version: 1, name: 'bad', items: [{ id: 'a', dependsOn: ['missing'], runtime: command('true') }] };
      const refused = await rejection(service.submit(bad, { actor: ana }));
      expect(isCairnError(refused)).toBe(true);
      expect((refused as { code: string }).code).toMatch(/^CAIRN_/);
      expect((refused as Error).message).toContain('missing');
      if (engine) {
        let direct: unknown;
        try {
          engine.submit(bad, { actor: ana });
        } catch (error) {
          direct = error;
        }
        expect({ ...(refused as object), message: (refused as Error).message }).toEqual({ ...(direct as object), message: (direct as Error).message });
      }
      // Nothing was stored for it.
      expect((await service.runs()).runs.map((run) => run.name)).not.toContain('bad');

      expect(await service.run('no-such-run')).toBeUndefined();
      expect(await service.spec('no-such-run')).toBeUndefined();
      expect(await service.items('no-such-run')).toEqual([]);
      expect(await service.attempts('no-such-run', 'a')).toEqual([]);
      expect(await service.artifacts('no-such-run', 'a')).toBeUndefined();
      expect(await rejection(service.exportBundle('no-such-run'))).toMatchObject({ code: 'CAIRN_NOT_FOUND' });
      expect(await rejection(service.cancelRun('no-such-run', bo))).toMatchObject({ code: 'CAIRN_NOT_FOUND' });
      expect(await rejection(service.runs({ limit: 0 }))).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID' });
      expect(() => service.auditEntries({ from: -1 })).toThrow(expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: 'from' }));

      const { runId } = await service.submit({ version: 1, name: 'done', items: [{ id: 'a', runtime: command('true') }] }, { actor: ana });
      await until(() => service.run(runId), ended);
      expect(await rejection(service.cancelItem(runId, 'a', bo))).toMatchObject({ code: 'CAIRN_LIFECYCLE_TRANSITION_INVALID' });
    });

    test('approvals and rejections, with their reasons, reach the items', async () => {
      const { service } = await makeService();
      const gated = {
        version: 1,
        name: 'gated',
        items: [
          { id: 'review', approval: 'required', runtime: command('true') },
          { id: 'hold', approval: 'required', runtime: command('true') },
        ],
      };
      const { runId } = await service.submit(gated, { actor: ana });
      const states = async () => Object.fromEntries((await service.items(runId)).map((item) => [item.itemId, item.state]));
      expect(await states()).toEqual({ review: 'awaiting-approval', hold: 'awaiting-approval' });
      await service.approve(runId, 'review', bo, 'read the plan');
      await service.reject(runId, 'hold', bo, 'not today');
      expect((await until(() => service.run(runId), ended))?.state).toBe('failed');
      expect(await states()).toEqual({ review: 'succeeded', hold: 'failed' });
      const entries = await collect(service.auditEntries({ runId }));
      expect(entries.find((entry) => entry.action === 'item.approved')).toMatchObject({ actor: { id: 'bo' }, data: { reason: 'read the plan' } });
      expect(entries.find((entry) => entry.action === 'item.rejected')).toMatchObject({ actor: { id: 'bo' }, data: { reason: 'not today' } });
      expect(await rejection(service.approve(runId, 'hold', bo))).toMatchObject({ code: 'CAIRN_LIFECYCLE_TRANSITION_INVALID' });
    });

    test('an approval policy waits for N distinct voters it counts; the submitter, a second vote, an outsider and a rejection without a reason are refused', async () => {
      const { service } = await makeService();
      const cy: AuditActor = { kind: 'user', id: 'cy', via: 'http' };
      const dee: AuditActor = { kind: 'user', id: 'dee', via: 'http' };
      const approvers = { roles: ['approver'] };
      const policy = { required: 2, from: ['approver', 'release-managers'] };
      const { runId } = await service.submit(
        {
          version: 1,
          name: 'two-of-three',
          items: [
            { id: 'deploy', approval: policy, runtime: command('true') },
            { id: 'hold', approval: policy, runtime: command('true') },
          ],
        },
        { actor: ana },
      );
      // ana submitted the run, and holds the role: the policy does not count her (selfApproval: false).
      expect(await rejection(service.approve(runId, 'deploy', ana, undefined, approvers))).toMatchObject({
        code: 'CAIRN_APPROVAL_NOT_ALLOWED',
        details: { reason: 'self-approval' },
      });
      // dee has no role the policy names.
      expect(await rejection(service.approve(runId, 'deploy', dee, undefined, { roles: ['viewer'] }))).toMatchObject({
        code: 'CAIRN_APPROVAL_NOT_ALLOWED',
        details: { reason: 'not-in-from', memberships: ['viewer'] },
      });
      await service.approve(runId, 'deploy', bo, 'looks right', approvers);
      expect((await service.items(runId)).find((item) => item.itemId === 'deploy')?.state).toBe('awaiting-approval');
      const twice = await rejection(service.approve(runId, 'deploy', bo, undefined, approvers));
      expect(twice).toMatchObject({ code: 'CAIRN_APPROVAL_DUPLICATE' });
      expect((twice as Error).message).toContain('it still needs 1 of 2 approvals');
      // A group counts as a role does.
      await service.approve(runId, 'deploy', cy, undefined, { groups: ['release-managers'] });
      expect(await rejection(service.reject(runId, 'hold', cy, undefined, approvers))).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'reason' });
      await service.reject(runId, 'hold', cy, 'not this week', approvers);
      expect((await until(() => service.run(runId), ended))?.state).toBe('failed');
      expect(Object.fromEntries((await service.items(runId)).map((item) => [item.itemId, item.state]))).toEqual({ deploy: 'succeeded', hold: 'failed' });
      const approvals = await service.approvals(runId);
      expect(approvals.map(({ itemId, policy, votes }) => [itemId, policy.required, votes.map((vote) => [vote.actor.id, vote.decision, vote.reason])])).toEqual(
        [
          [
            'deploy',
            2,
            [
              ['bo', 'approve', 'looks right'],
              ['cy', 'approve', null],
            ],
          ],
          ['hold', 2, [['cy', 'reject', 'not this week']]],
        ],
      );
      const entries = await collect(service.auditEntries({ runId }));
      expect(
        entries.filter((entry) => entry.action === 'item.approval-voted').map((entry) => [entry.actor.id, entry.data['decision'], entry.data['approvals']]),
      ).toEqual([
        ['bo', 'approve', 1],
        ['cy', 'approve', 2],
        ['cy', 'reject', 0],
      ]);
      expect(entries.find((entry) => entry.action === 'item.approved')).toMatchObject({ actor: { id: 'cy' }, data: { approvers: ['bo', 'cy'] } });
      expect(entries.find((entry) => entry.action === 'item.rejected')).toMatchObject({ actor: { id: 'cy' }, data: { reason: 'not this week' } });
    });

    test("a principal's lapsed access drops their token approvals of items not started, unless a role they keep still counts", async () => {
      const { service } = await makeService();
      const policy = { required: 2, from: ['approver'] };
      const { runId } = await service.submit(
        { version: 1, name: 'lapse', items: [{ id: 'deploy', approval: policy, runtime: command('true') }] },
        { actor: ana },
      );
      const eve: AuditActor = { kind: 'token', id: 'token:eve-1', via: 'http' };
      await service.approve(runId, 'deploy', eve, undefined, { roles: ['approver'], principal: 'eve' });
      // eve keeps a token with the role the policy names: her approval stands.
      expect(await service.lapseApprovals('eve', 'access revoked at 2026-11-28T00:00:00.000Z', ana, ['approver'])).toBe(0);
      expect(await service.lapseApprovals('eve', 'access revoked at 2026-11-28T00:00:00.000Z', ana, ['deployer'])).toBe(1);
      expect((await service.approvals(runId))[0]!.votes).toEqual([]);
      const entries = await collect(service.auditEntries({ runId, action: 'item.approval-requested' }));
      expect(entries.at(-1)).toMatchObject({
        actor: { id: ana.id },
        data: {
          approvals: 0,
          required: 2,
          lapsed: [{ principal: 'eve', message: 'approval by eve no longer counts: access revoked at 2026-11-28T00:00:00.000Z' }],
        },
      });
      // Sent again, nothing is left to drop.
      expect(await service.lapseApprovals('eve', 'access revoked at 2026-11-28T00:00:00.000Z', ana)).toBe(0);
      expect((await service.items(runId))[0]!.state).toBe('awaiting-approval');
    });

    test("an approval policy's timeout ends the wait as its onTimeout says: approve runs the item, reject fails it", async () => {
      const { service } = await makeService();
      const { runId } = await service.submit(
        {
          version: 1,
          name: 'timeouts',
          items: [
            { id: 'lets-go', approval: { required: 2, timeout: '150ms', onTimeout: 'approve' }, runtime: command('true') },
            // Its one vote must land while it waits (through engine_commands on a follower): the
            // engine times waits by the wall clock, so this wait is long enough for a loaded machine.
            { id: 'stops', approval: { required: 2, timeout: '5s' }, runtime: command('true') },
          ],
        },
        { actor: ana },
      );
      await service.approve(runId, 'stops', bo);
      expect((await until(() => service.run(runId), ended))?.state).toBe('failed');
      const items = await service.items(runId);
      expect(Object.fromEntries(items.map((item) => [item.itemId, item.state]))).toEqual({ 'lets-go': 'succeeded', stops: 'failed' });
      expect(items.find((item) => item.itemId === 'stops')?.failure).toMatchObject({ code: 'CAIRN_APPROVAL_TIMED_OUT' });
      expect(items.find((item) => item.itemId === 'stops')?.failure?.message).toContain('1 of the 2 approvals its policy needs when its wait of 5s');
      const entries = await collect(service.auditEntries({ runId }));
      expect(entries.find((entry) => entry.action === 'item.approved')).toMatchObject({
        actor: { kind: 'system' },
        entity: { id: `${runId}/lets-go` },
        data: { onTimeout: 'approve', approvals: 0, required: 2 },
      });
    });

    test('cancelling an item and a run stops what runs, with the reason in the audit entries', async () => {
      const { service } = await makeService();
      const { runId } = await service.submit(
        {
          version: 1,
          name: 'long',
          items: [
            { id: 'one', runtime: command('sleep', '20000') },
            { id: 'two', runtime: command('sleep', '20000') },
          ],
        },
        { actor: ana },
      );
      await until(
        () => service.attempts(runId, 'one'),
        (attempts) => attempts.length > 0,
      );
      await service.cancelItem(runId, 'one', bo, 'not this one');
      await service.cancelRun(runId, bo, 'changed my mind');
      const run = await until(() => service.run(runId), ended);
      expect(run?.state).toBe('cancelled');
      const entries = await collect(service.auditEntries({ runId }));
      expect(entries.find((entry) => entry.action === 'run.cancelled')).toMatchObject({ actor: { id: 'bo' } });
      expect(JSON.stringify(entries)).toContain('changed my mind');
      expect(JSON.stringify(entries)).toContain('not this one');
    });

    test('schedules and secrets are added, listed and removed through it', async () => {
      const { service } = await makeService();
      const schedule = await service.addSchedule(
        { scheduleId: 'nightly', cron: '0 3 * * *', spec: { version: 1, name: 'nightly', items: [{ id: 'a', runtime: command('true') }] } },
        ana,
      );
      expect(schedule.scheduleId).toBe('nightly');
      expect((await service.schedules()).map((each) => each.scheduleId)).toEqual(['nightly']);
      await service.removeSchedule('nightly', ana);
      expect(await service.schedules()).toEqual([]);
      expect(await rejection(service.removeSchedule('nightly', ana))).toMatchObject({ code: 'CAIRN_NOT_FOUND' });

      const secret = await service.setSecret('API_TOKEN', 'hunter2', ana);
      expect(secret).toMatchObject({ name: 'API_TOKEN', version: 1 });
      expect((await service.secrets()).map((each) => each.name)).toEqual(['API_TOKEN']);
      await service.removeSecret('API_TOKEN', ana);
      expect(await service.secrets()).toEqual([]);
      const actions = (await collect(service.auditEntries())).map((entry) => entry.action);
      expect(actions).toEqual(expect.arrayContaining(['schedule.created', 'schedule.removed', 'secret.set', 'secret.removed']));
      expect(JSON.stringify(await collect(service.auditEntries()))).not.toContain('hunter2');
    });

    test('a server secret is revealed to the host as last set, unaudited; one not set is CAIRN_SECRET_UNAVAILABLE naming it, and who asked when told', async () => {
      const { service } = await makeService();
      await service.setSecret('PROVIDER_KEY', 'sk-first', ana);
      expect(await service.modelCalls.revealSecret('PROVIDER_KEY')).toBe('sk-first');
      await service.setSecret('PROVIDER_KEY', 'sk-second', ana);
      expect(await service.modelCalls.revealSecret('PROVIDER_KEY', 'The forge github.com (config.forges.github.tokenSecret)')).toBe('sk-second');
      const before = await service.auditSize();
      expect(await rejection(service.modelCalls.revealSecret('NOT_SET'))).toMatchObject({
        code: 'CAIRN_SECRET_UNAVAILABLE',
        path: 'NOT_SET',
        message: 'The server secret NOT_SET is not set: set it with `cairn secret set NOT_SET`.',
      });
      expect(await rejection(service.modelCalls.revealSecret('NOT_SET', 'The webhook trigger alerts (config.triggers.webhooks.alerts.secret)'))).toMatchObject({
        code: 'CAIRN_SECRET_UNAVAILABLE',
        path: 'NOT_SET',
        message:
          'The webhook trigger alerts (config.triggers.webhooks.alerts.secret) needs the server secret NOT_SET, which is not set: set it with `cairn secret set NOT_SET`.',
      });
      expect(await service.modelCalls.revealSecret('PROVIDER_KEY')).toBe('sk-second');
      // Revealing writes nothing: values never reach the log, and no entry is made per read.
      expect((await collect(service.auditEntries({ from: before }))).filter((entry) => entry.entity.kind === 'secret')).toEqual([]);
      expect(JSON.stringify(await collect(service.auditEntries()))).not.toMatch(/sk-first|sk-second/);
    });

    test('the host audit writer writes exactly the entries the host owns, and nothing else', async () => {
      const { service } = await makeService();
      const { hostAudit } = service;
      const before = await service.auditSize();
      await hostAudit.accessDenied({ actor: bo, entity: { kind: 'run', id: 'r1' }, requestedAction: 'runs.cancel', reason: 'the token lacks runs:cancel' });
      await hostAudit.tokenCreated({ actor: ana, tokenId: 't1', name: 'ci', scopes: ['runs:read'] });
      await hostAudit.tokenRevoked({ actor: ana, tokenId: 't1', name: 'ci' });
      await hostAudit.webhookCreated({ actor: ana, webhookId: 'wh_1', origin: 'https://hooks.example', events: ['run.state'], runId: 'r1' });
      await hostAudit.webhookRemoved({ actor: ana, webhookId: 'wh_1', origin: 'https://hooks.example' });
      await hostAudit.webhookDisabled({
        actor: { kind: 'system', id: 'webhooks', via: 'engine' },
        webhookId: 'wh_2',
        reason: 'the endpoint answered 410 Gone',
      });
      const written = (await collect(service.auditEntries({ from: before }))).filter((entry) => entry.actor.id !== 'engine');
      expect(written.map(({ action, entity, outcome, data, actor }) => ({ action, entity, outcome, data, actor: actor.id }))).toEqual([
        {
          action: 'access.denied',
          entity: { kind: 'run', id: 'r1' },
          outcome: 'denied',
          data: { action: 'runs.cancel', reason: 'the token lacks runs:cancel' },
          actor: 'bo',
        },
        { action: 'token.created', entity: { kind: 'token', id: 'token:t1' }, outcome: 'success', data: { name: 'ci', scopes: ['runs:read'] }, actor: 'ana' },
        { action: 'token.revoked', entity: { kind: 'token', id: 'token:t1' }, outcome: 'success', data: { name: 'ci' }, actor: 'ana' },
        {
          action: 'webhook.created',
          entity: { kind: 'webhook', id: 'wh_1' },
          outcome: 'success',
          data: { origin: 'https://hooks.example', events: ['run.state'], runId: 'r1' },
          actor: 'ana',
        },
        { action: 'webhook.removed', entity: { kind: 'webhook', id: 'wh_1' }, outcome: 'success', data: { origin: 'https://hooks.example' }, actor: 'ana' },
        {
          action: 'webhook.disabled',
          entity: { kind: 'webhook', id: 'wh_2' },
          outcome: 'success',
          data: { reason: 'the endpoint answered 410 Gone' },
          actor: 'webhooks',
        },
      ]);

      // No generic append anywhere in what a host gets, and an argument cannot smuggle in another action.
      expect(Object.keys(hostAudit).sort()).toEqual(['accessDenied', 'tokenCreated', 'tokenRevoked', 'webhookCreated', 'webhookDisabled', 'webhookRemoved']);
      expect('append' in service).toBe(false);
      expect('append' in hostAudit).toBe(false);
      const size = await service.auditSize();
      const smuggled = { actor: bo, tokenId: 't2', name: 'x', action: 'run.submitted', runId: 'r1' } as unknown as Parameters<typeof hostAudit.tokenRevoked>[0];
      expect(await rejection(hostAudit.tokenRevoked(smuggled))).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringContaining('runId') });
      const malformed = { actor: bo, entity: { kind: 'run', id: 'r1' }, requestedAction: 'runs.read' } as unknown as Parameters<
        typeof hostAudit.accessDenied
      >[0];
      expect(await rejection(hostAudit.accessDenied(malformed))).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: '$.reason' });
      const wrongEntity = { actor: bo, entity: { kind: 'secret', id: 'API_TOKEN' }, requestedAction: 'runs.read', reason: 'x' } as unknown as Parameters<
        typeof hostAudit.accessDenied
      >[0];
      expect(await rejection(hostAudit.accessDenied(wrongEntity))).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: '$.entity.kind' });
      // Nothing refused was written.
      expect((await collect(service.auditEntries({ from: size }))).filter((entry) => entry.actor.id !== 'engine')).toEqual([]);
    });
  });
}
