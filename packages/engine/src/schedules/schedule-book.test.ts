import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditActor } from '@cairn/core';
import { assertRunSpec, isCairnError } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from '../database/open-engine-database.ts';
import { RunStateMachine } from '../state/run-state-machine.ts';
import { ScheduleBook, type ScheduleBookSettings, type ScheduleDefinition } from './schedule-book.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const spec = { version: 1, name: 'nightly', items: [{ id: 'tidy', runtime: { kind: 'command', argv: ['make', 'tidy'] } }] };
const minute = 60_000;

/** A book over a real database and state machine, with a clock the test moves. */
function setUp(start = Date.UTC(2026, 10, 22, 10, 0, 30), overrides: Partial<ScheduleBookSettings> = {}) {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-schedules-'));
  directories.push(directory);
  const path = join(directory, 'engine.db');
  const database = openEngineDatabase(path);
  const clock = { now: start };
  const now = () => clock.now;
  const audit = new AuditLog(database, { now });
  const machine = new RunStateMachine(database, audit, { now });
  const settings: ScheduleBookSettings = {
    database,
    audit,
    now,
    validate: (value) => assertRunSpec(value).spec,
    submit: (value, options) => machine.submit(value, options),
    runState: (runId) => machine.run(runId)?.state,
    cancelRun: (runId, actor) => machine.cancelRun(runId, actor),
    ...overrides,
  };
  const book = new ScheduleBook(settings);
  const entries = (action: string) => [...audit.entries()].filter((entry) => entry.action === action);
  const runIds = () => (database.prepare('SELECT run_id AS runId FROM runs ORDER BY run_id').all() as { runId: string }[]).map((row) => row.runId);
  const finish = (runId: string) => {
    machine.startItem(runId, 'tidy');
    machine.finishItem(runId, 'tidy', 'succeeded');
  };
  return { book, clock, machine, audit, database, settings, path, entries, runIds, finish };
}

const everyMinute = (overrides: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({ scheduleId: 'tidy', cron: '* * * * *', spec, ...overrides });

describe('ScheduleBook', () => {
  test('a due slot submits run <scheduleId>@<slot>, audited; the schedule moves to the next slot', () => {
    const { book, clock, runIds, entries, finish } = setUp();
    const created = book.add(everyMinute(), ana);
    expect(created).toMatchObject({ scheduleId: 'tidy', timeZone: 'UTC', catchUp: 'skip', overlap: 'skip', nextSlot: '2026-11-22T10:01:00.000Z', createdBy: 'ana' });
    expect(book.fireDue()).toBe(0);
    expect(book.nextDueAt()).toBe(Date.UTC(2026, 10, 22, 10, 1));
    clock.now = Date.UTC(2026, 10, 22, 10, 1, 2);
    expect(book.fireDue()).toBe(1);
    expect(runIds()).toEqual(['tidy@2026-11-22T10:01:00.000Z']);
    expect(book.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T10:02:00.000Z', lastRunId: 'tidy@2026-11-22T10:01:00.000Z' });
    const fired = entries('schedule.fired')[0]!;
    expect([fired.actor, fired.data]).toEqual([{ kind: 'system', id: 'schedule:tidy', via: 'schedule' }, { slot: '2026-11-22T10:01:00.000Z', runId: 'tidy@2026-11-22T10:01:00.000Z', created: true }]);
    finish('tidy@2026-11-22T10:01:00.000Z');
    expect(book.fireDue()).toBe(0);
  });

  test('catch-up skip: slots missed while down are let go (counted, audited) and the schedule resumes', () => {
    const { book, clock, runIds, entries } = setUp();
    book.add(everyMinute(), ana);
    clock.now = Date.UTC(2026, 10, 22, 13, 0, 30); // three hours down, the 13:00 slot on time
    expect(book.fireDue()).toBe(1);
    expect(runIds()).toEqual(['tidy@2026-11-22T13:00:00.000Z']);
    expect(entries('schedule.skipped')[0]!.data).toMatchObject({ count: 179, from: '2026-11-22T10:01:00.000Z' });
    clock.now = Date.UTC(2026, 10, 22, 15, 0, 0) + 5 * minute; // every due slot is late: none fires
    expect(book.fireDue()).toBe(0);
    expect(book.get('tidy')!.nextSlot).toBe('2026-11-22T15:06:00.000Z');
  });

  test('catch-up latest fires the most recent missed slot however late; all(n) the n most recent, oldest first', () => {
    const latest = setUp();
    latest.book.add(everyMinute({ catchUp: 'latest', overlap: 'allow' }), ana);
    latest.clock.now = Date.UTC(2026, 10, 22, 12, 0, 0) + 30 * 1000 + 10 * minute;
    expect(latest.book.fireDue()).toBe(1);
    expect(latest.runIds()).toEqual(['tidy@2026-11-22T12:10:00.000Z']);

    const all = setUp();
    all.book.add(everyMinute({ catchUp: { all: 3 }, overlap: 'allow' }), ana);
    all.clock.now = Date.UTC(2026, 10, 22, 11, 0, 30);
    expect(all.book.fireDue()).toBe(3);
    expect(all.runIds()).toEqual(['tidy@2026-11-22T10:58:00.000Z', 'tidy@2026-11-22T10:59:00.000Z', 'tidy@2026-11-22T11:00:00.000Z']);
    expect(all.entries('schedule.skipped')[0]!.data).toMatchObject({ count: 57 });
    expect(all.entries('schedule.fired').map((entry) => entry.data['slot'])).toEqual(['2026-11-22T10:58:00.000Z', '2026-11-22T10:59:00.000Z', '2026-11-22T11:00:00.000Z']);
  });

  test('overlap: skip while the previous run is live, allow, or cancel the previous one', () => {
    const next = (clock: { now: number }) => (clock.now += minute);
    const skip = setUp();
    skip.book.add(everyMinute(), ana);
    next(skip.clock);
    skip.book.fireDue();
    next(skip.clock);
    expect(skip.book.fireDue()).toBe(0);
    expect(skip.entries('schedule.skipped')[0]!.data['reason']).toBe('run tidy@2026-11-22T10:01:00.000Z of an earlier slot is still queued (overlap: skip)');
    skip.finish('tidy@2026-11-22T10:01:00.000Z');
    next(skip.clock);
    expect(skip.book.fireDue()).toBe(1);

    const allow = setUp();
    allow.book.add(everyMinute({ overlap: 'allow' }), ana);
    for (let slot = 0; slot < 3; slot++) {
      next(allow.clock);
      allow.book.fireDue();
    }
    expect(allow.runIds()).toHaveLength(3);

    const cancel = setUp();
    cancel.book.add(everyMinute({ overlap: 'cancel-previous' }), ana);
    next(cancel.clock);
    cancel.book.fireDue();
    next(cancel.clock);
    expect(cancel.book.fireDue()).toBe(1);
    expect(cancel.machine.run('tidy@2026-11-22T10:01:00.000Z')!.state).toBe('cancelled');
    expect(cancel.audit.runEntries('tidy@2026-11-22T10:01:00.000Z').at(-1)!.actor.id).toBe('schedule:tidy');
  });

  test('time zones: 09:00 in Paris is 08:00Z in winter and 07:00Z in summer, across the change', () => {
    const { book, clock, runIds, finish } = setUp(Date.UTC(2026, 2, 28, 8, 30));
    book.add({ scheduleId: 'paris', cron: '0 9 * * *', timeZone: 'Europe/Paris', spec }, ana);
    expect(book.get('paris')!.nextSlot).toBe('2026-03-29T07:00:00.000Z');
    clock.now = Date.UTC(2026, 2, 29, 7, 0, 5);
    book.fireDue();
    finish('paris@2026-03-29T07:00:00.000Z');
    expect(book.get('paris')!.nextSlot).toBe('2026-03-30T07:00:00.000Z');
    const winter = setUp(Date.UTC(2026, 0, 10, 12));
    winter.book.add({ scheduleId: 'paris', cron: '0 9 * * *', timeZone: 'Europe/Paris', spec }, ana);
    expect(winter.book.get('paris')!.nextSlot).toBe('2026-01-11T08:00:00.000Z');
    expect(runIds()).toEqual(['paris@2026-03-29T07:00:00.000Z']);
  });

  test('a slot fires once: its run, audit entry and the schedule advance commit together, and a second fire returns the same run', () => {
    const first = setUp();
    let failAfterSubmit = true;
    // The process "dies" after the submit: the transaction throws, so nothing of the slot remains.
    const book = new ScheduleBook({
      ...first.settings,
      submit: (value, options) => {
        const result = first.settings.submit(value, options);
        if (failAfterSubmit) throw new Error('killed');
        return result;
      },
    });
    book.add(everyMinute(), ana);
    first.clock.now += minute;
    book.fireDue();
    expect(first.runIds()).toEqual([]);
    expect(first.entries('schedule.fired').map((entry) => entry.outcome)).toEqual(['failure']);
    // A restart over the same database, whose row was advanced without the run: submitted directly
    // by the slot's idempotency key, a second fire returns the same run.
    failAfterSubmit = false;
    const restarted = new ScheduleBook(first.settings);
    first.settings.submit(spec as never, { actor: ana, runId: 'tidy@2026-11-22T10:02:00.000Z', idempotencyKey: 'tidy@2026-11-22T10:02:00.000Z' });
    first.clock.now += minute;
    expect(restarted.fireDue()).toBe(0);
    expect(first.entries('schedule.fired').at(-1)!.data).toMatchObject({ runId: 'tidy@2026-11-22T10:02:00.000Z', created: false });
    expect(first.runIds()).toEqual(['tidy@2026-11-22T10:02:00.000Z']);
  });

  test('a definition with problems is refused with every one named, spec included; the same definition twice is idempotent', () => {
    const { book } = setUp();
    try {
      book.add({ scheduleId: 'bad id!', cron: '61 * * * *', timeZone: 'Mars/Olympus', catchUp: { all: 0 }, overlap: 'sometimes' as never, spec: { version: 1, name: 'x', items: [{ id: 'a' }] } }, ana);
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
      expect((error as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual([
        'schedule.scheduleId', 'schedule.timeZone', 'schedule.cron', 'schedule.catchUp', 'schedule.overlap', 'schedule.spec.items[0].runtime',
      ]);
      expect((error as Error).message).toContain('Invalid value for minute: 61');
    }
    expect(() => book.add(everyMinute({ spec: { version: 1, name: 'x', items: [] } }), ana)).toThrow(expect.objectContaining({ code: 'CAIRN_RUN_SPEC_INVALID' }));
    const created = book.add(everyMinute(), ana);
    expect(book.add(everyMinute(), ana)).toEqual(created);
    expect(() => book.add(everyMinute({ cron: '0 * * * *' }), ana)).toThrow(expect.objectContaining({ code: 'CAIRN_IDEMPOTENCY_CONFLICT' }));
  });

  test('a submit that fails is audited and does not wedge the schedule; remove stops it', () => {
    const { book, clock, settings, entries } = setUp();
    const failing = new ScheduleBook({ ...settings, submit: () => { throw new Error('executor local is gone'); } });
    failing.add(everyMinute(), ana);
    clock.now += minute;
    expect(failing.fireDue()).toBe(0);
    expect(entries('schedule.fired')[0]).toMatchObject({ outcome: 'failure', data: { reason: 'Error: executor local is gone' } });
    expect(failing.get('tidy')!.nextSlot).toBe('2026-11-22T10:02:00.000Z');
    book.remove('tidy', ana);
    expect(book.list()).toEqual([]);
    expect(book.nextDueAt()).toBeNull();
    expect(() => book.remove('tidy', ana)).toThrow(expect.objectContaining({ code: 'CAIRN_NOT_FOUND' }));
  });
});

test('slots with seconds are found however far into its second the clock is', () => {
  const { book, clock, runIds } = setUp(Date.UTC(2026, 10, 22, 10, 0, 0, 400));
  book.add({ scheduleId: 'pulse', cron: '* * * * * *', spec }, ana);
  clock.now = Date.UTC(2026, 10, 22, 10, 0, 1, 10);
  expect(book.fireDue()).toBe(1);
  expect(runIds()).toEqual(['pulse@2026-11-22T10:00:01.000Z']);
});
