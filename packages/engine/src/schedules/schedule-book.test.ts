import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditActor } from '@cairn/core';
import { assertRunSpec, CairnError, isCairnError, parseRunSpec } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { RunStateMachine } from '../state/run-state-machine.ts';
import { ScheduleBook, type ScheduleBookSettings, type ScheduleDefinition } from './schedule-book.ts';
import { WorkingCopy } from '../store/sqlite/working-copy.ts';

// These tests run on SQLite only: the book has no commit of its own (each slot is one SQLite
// transaction, the same code on a PostgreSQL working copy; the engine's loop group-commits its
// turn), and the crash tests here kill a process mid-transaction on the database file. The
// PostgreSQL path of schedules (fired by the engine's loop, committed, reloaded) is covered by
// engine-controls.test.ts ('schedules'), which runs on both backends.
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const spec = { version: 1, name: 'nightly', items: [{ id: 'tidy', runtime: { kind: 'command', argv: ['make', 'tidy'] } }] };
const minute = 60_000;
const hour = 60 * minute;
const start = Date.UTC(2026, 10, 22, 10, 0, 30);

/**
 * A book over a real database and run state machine, with a clock the test moves. `validate`
 * reads YAML/JSON text as the engine's does.
 */
function setUp(startAt = start, overrides: Partial<ScheduleBookSettings> = {}, path?: string) {
  const databasePath = path ?? join(temporaryDirectory(), 'engine.db');
  const database = openEngineDatabase(databasePath);
  const clock = { now: startAt };
  const now = () => clock.now;
  const audit = new AuditLog(new WorkingCopy(database), { now });
  const machine = new RunStateMachine(new WorkingCopy(database), audit, { now });
  const settings: ScheduleBookSettings = {
    workingCopy: new WorkingCopy(database),
    audit,
    now,
    validate: (value) => assertRunSpec(typeof value === 'string' ? parseRunSpec(value) : value).spec,
    submit: (value, options) => machine.submit(value, options),
    runState: (runId) => machine.run(runId)?.state,
    cancelRun: (runId, actor) => machine.cancelRun(runId, actor),
    ...overrides,
  };
  const book = new ScheduleBook(settings);
  const entries = (action: string) => [...audit.entries()].filter((entry) => entry.action === action);
  const runIds = () =>
    database
      .prepare<[], { runId: string }>('SELECT run_id AS runId FROM runs ORDER BY run_id')
      .all()
      .map((row) => row.runId);
  const finish = (runId: string) => {
    machine.startItem(runId, 'tidy');
    machine.finishItem(runId, 'tidy', 'succeeded');
  };
  return { book, clock, machine, audit, database, settings, path: databasePath, entries, runIds, finish };
}

function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-schedules-'));
  directories.push(directory);
  return directory;
}

const everyMinute = (overrides: Partial<ScheduleDefinition> = {}): ScheduleDefinition => ({ scheduleId: 'tidy', cron: '* * * * *', spec, ...overrides });
const scheduleActor: AuditActor = { kind: 'system', id: 'schedule:tidy', via: 'schedule' };

describe('firing', () => {
  test('a due slot submits run <scheduleId>@<slot>, audited; the schedule moves to the next slot', () => {
    const { book, clock, runIds, entries, finish } = setUp();
    const created = book.add(everyMinute(), ana);
    expect(created).toMatchObject({
      scheduleId: 'tidy',
      timeZone: 'UTC',
      catchUp: 'skip',
      overlap: 'skip',
      nextSlot: '2026-11-22T10:01:00.000Z',
      lastRunId: null,
      createdBy: 'ana',
      createdAt: '2026-11-22T10:00:30.000Z',
    });
    expect(entries('schedule.created')[0]).toMatchObject({
      actor: ana,
      entity: { kind: 'schedule', id: 'tidy' },
      data: { cron: '* * * * *', timeZone: 'UTC', catchUp: 'skip', overlap: 'skip', specDigest: created.specDigest },
    });
    expect(book.fireDue()).toBe(0);
    expect(book.nextDueAt()).toBe(Date.UTC(2026, 10, 22, 10, 1));
    clock.now = Date.UTC(2026, 10, 22, 10, 1, 2);
    expect(book.fireDue()).toBe(1);
    expect(runIds()).toEqual(['tidy@2026-11-22T10:01:00.000Z']);
    expect(book.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T10:02:00.000Z', lastRunId: 'tidy@2026-11-22T10:01:00.000Z' });
    expect(book.nextDueAt()).toBe(Date.UTC(2026, 10, 22, 10, 2));
    const fired = entries('schedule.fired')[0]!;
    expect([fired.actor, fired.outcome, fired.data]).toEqual([
      scheduleActor,
      'success',
      { slot: '2026-11-22T10:01:00.000Z', runId: 'tidy@2026-11-22T10:01:00.000Z', created: true },
    ]);
    // The run is the schedule's: submitted by it, with the slot as idempotency key.
    expect(entries('run.submitted')[0]!.actor).toEqual(scheduleActor);
    finish('tidy@2026-11-22T10:01:00.000Z');
    expect(book.fireDue()).toBe(0);
    expect(entries('schedule.skipped')).toEqual([]);
  });

  test('nextDueAt is the earliest next slot of all schedules, for the loop to sleep until', () => {
    const { book } = setUp();
    expect(book.nextDueAt()).toBeNull();
    book.add({ scheduleId: 'hourly', cron: '0 * * * *', spec }, ana);
    expect(book.nextDueAt()).toBe(Date.UTC(2026, 10, 22, 11));
    book.add({ scheduleId: 'quarterly', cron: '*/15 * * * *', spec }, ana);
    expect(book.nextDueAt()).toBe(Date.UTC(2026, 10, 22, 10, 15));
    book.remove('quarterly', ana);
    expect(book.nextDueAt()).toBe(Date.UTC(2026, 10, 22, 11));
  });

  test('slots with seconds are found however far into its second the clock is', () => {
    const { book, clock, runIds } = setUp(Date.UTC(2026, 10, 22, 10, 0, 0, 400));
    book.add({ scheduleId: 'pulse', cron: '* * * * * *', spec }, ana);
    clock.now = Date.UTC(2026, 10, 22, 10, 0, 1, 10);
    expect(book.fireDue()).toBe(1);
    expect(runIds()).toEqual(['pulse@2026-11-22T10:00:01.000Z']);
  });
});

describe('catch-up after the engine was down', () => {
  test('skip: missed slots are let go in one audited entry, an on-time slot fires, and the schedule resumes', () => {
    const { book, clock, runIds, entries } = setUp(start, { graceMs: 10_000 });
    book.add(everyMinute({ overlap: 'allow' }), ana);
    clock.now = Date.UTC(2026, 10, 22, 13, 0, 5); // three hours down; the 13:00 slot is on time
    expect(book.fireDue()).toBe(1);
    expect(runIds()).toEqual(['tidy@2026-11-22T13:00:00.000Z']);
    expect(entries('schedule.skipped').map((entry) => [entry.actor, entry.data])).toEqual([
      [scheduleActor, { count: 179, countCapped: false, first: '2026-11-22T10:01:00.000Z', last: '2026-11-22T12:59:00.000Z', reason: 'catch-up: skip' }],
    ]);
    clock.now = Date.UTC(2026, 10, 22, 15, 0, 30); // down again; the 15:00 slot is 30 s late, past the grace
    expect(book.fireDue()).toBe(0);
    expect(entries('schedule.skipped').at(-1)!.data).toEqual({
      count: 120,
      countCapped: false,
      first: '2026-11-22T13:01:00.000Z',
      last: '2026-11-22T15:00:00.000Z',
      reason: 'catch-up: skip',
    });
    expect(book.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T15:01:00.000Z', lastRunId: 'tidy@2026-11-22T13:00:00.000Z' });
  });

  test('latest: the most recent missed slot fires however late', () => {
    const { book, clock, runIds, entries } = setUp();
    book.add({ scheduleId: 'hourly', cron: '0 * * * *', spec, catchUp: 'latest' }, ana);
    clock.now = Date.UTC(2026, 10, 22, 15, 40); // five hours down; the 15:00 slot is 40 minutes late
    expect(book.fireDue()).toBe(1);
    expect(runIds()).toEqual(['hourly@2026-11-22T15:00:00.000Z']);
    expect(entries('schedule.skipped')[0]!.data).toEqual({
      count: 4,
      countCapped: false,
      first: '2026-11-22T11:00:00.000Z',
      last: '2026-11-22T14:00:00.000Z',
      reason: 'catch-up: latest',
    });
    expect(book.get('hourly')!.nextSlot).toBe('2026-11-22T16:00:00.000Z');
  });

  test('all(n): the n most recent missed slots fire, oldest first; the others are counted', () => {
    const { book, clock, runIds, entries } = setUp();
    book.add(everyMinute({ catchUp: { all: 3 }, overlap: 'allow' }), ana);
    clock.now = Date.UTC(2026, 10, 22, 11, 0, 30);
    expect(book.fireDue()).toBe(3);
    expect(runIds()).toEqual(['tidy@2026-11-22T10:58:00.000Z', 'tidy@2026-11-22T10:59:00.000Z', 'tidy@2026-11-22T11:00:00.000Z']);
    expect(entries('schedule.skipped')[0]!.data).toEqual({
      count: 57,
      countCapped: false,
      first: '2026-11-22T10:01:00.000Z',
      last: '2026-11-22T10:57:00.000Z',
      reason: 'catch-up: all(3)',
    });
    expect(entries('schedule.fired').map((entry) => entry.data['slot'])).toEqual([
      '2026-11-22T10:58:00.000Z',
      '2026-11-22T10:59:00.000Z',
      '2026-11-22T11:00:00.000Z',
    ]);
    expect(book.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T11:01:00.000Z', lastRunId: 'tidy@2026-11-22T11:00:00.000Z' });
    // Fewer missed slots than n: all of them fire, none is let go.
    clock.now = Date.UTC(2026, 10, 22, 11, 2, 30);
    expect(book.fireDue()).toBe(2);
    expect(entries('schedule.skipped')).toHaveLength(1);
  });

  test('a minutely schedule down for a year is handled at once: the let-go slots are counted up to a cap', () => {
    const { book, clock, runIds, entries } = setUp();
    book.add(everyMinute({ catchUp: 'latest' }), ana);
    clock.now += 365 * 24 * hour;
    const started = performance.now();
    expect(book.fireDue()).toBe(1);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(runIds()).toEqual(['tidy@2027-11-22T10:00:00.000Z']);
    expect(entries('schedule.skipped')[0]!.data).toEqual({
      count: 1000,
      countCapped: true,
      first: '2026-11-22T10:01:00.000Z',
      last: '2027-11-22T09:59:00.000Z',
      reason: 'catch-up: latest',
    });
  });
});

describe('overlap with the previous slot’s run', () => {
  const tick = (clock: { now: number }) => (clock.now += minute);

  test('skip: a slot due while the previous run is live is let go, audited; once it ended, slots fire again', () => {
    const { book, clock, entries, finish, runIds } = setUp();
    book.add(everyMinute(), ana);
    tick(clock);
    book.fireDue();
    tick(clock);
    expect(book.fireDue()).toBe(0);
    expect(entries('schedule.skipped').map((entry) => entry.data)).toEqual([
      {
        count: 1,
        countCapped: false,
        first: '2026-11-22T10:02:00.000Z',
        last: '2026-11-22T10:02:00.000Z',
        reason: 'overlap',
        previousRunId: 'tidy@2026-11-22T10:01:00.000Z',
        previousState: 'queued',
      },
    ]);
    expect(book.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T10:03:00.000Z', lastRunId: 'tidy@2026-11-22T10:01:00.000Z' });
    finish('tidy@2026-11-22T10:01:00.000Z');
    tick(clock);
    expect(book.fireDue()).toBe(1);
    expect(runIds()).toEqual(['tidy@2026-11-22T10:01:00.000Z', 'tidy@2026-11-22T10:03:00.000Z']);
  });

  test('allow: slots fire while earlier runs are live', () => {
    const { book, clock, runIds, machine } = setUp();
    book.add(everyMinute({ overlap: 'allow' }), ana);
    for (let slot = 0; slot < 3; slot++) {
      tick(clock);
      expect(book.fireDue()).toBe(1);
    }
    expect(runIds()).toHaveLength(3);
    expect(runIds().map((runId) => machine.run(runId)!.state)).toEqual(['queued', 'queued', 'queued']);
  });

  test('cancel-previous: the live previous run is cancelled by the schedule, then the slot fires', () => {
    const { book, clock, machine, audit, entries } = setUp();
    book.add(everyMinute({ overlap: 'cancel-previous' }), ana);
    tick(clock);
    book.fireDue();
    tick(clock);
    expect(book.fireDue()).toBe(1);
    expect(machine.run('tidy@2026-11-22T10:01:00.000Z')!.state).toBe('cancelled');
    expect(machine.run('tidy@2026-11-22T10:02:00.000Z')!.state).toBe('queued');
    expect(audit.runEntries('tidy@2026-11-22T10:01:00.000Z').at(-1)).toMatchObject({ action: 'run.cancelled', actor: scheduleActor });
    expect(entries('schedule.fired').at(-1)!.data).toEqual({
      slot: '2026-11-22T10:02:00.000Z',
      runId: 'tidy@2026-11-22T10:02:00.000Z',
      created: true,
      previousRunId: 'tidy@2026-11-22T10:01:00.000Z',
      overlap: 'cancel-previous',
    });
  });

  test('cancel-previous: a cancel that fails keeps the slot from firing over the live run; audited, the schedule moves on', () => {
    const { book, clock, machine, entries, runIds } = setUp(start, {
      cancelRun: () => {
        throw new CairnError('CAIRN_LIFECYCLE_TRANSITION_INVALID', 'The run cannot be cancelled now.');
      },
    });
    book.add(everyMinute({ overlap: 'cancel-previous' }), ana);
    tick(clock);
    book.fireDue();
    tick(clock);
    expect(book.fireDue()).toBe(0);
    expect(runIds()).toEqual(['tidy@2026-11-22T10:01:00.000Z']);
    expect(machine.run('tidy@2026-11-22T10:01:00.000Z')!.state).toBe('queued');
    expect(entries('schedule.fired').at(-1)).toMatchObject({
      outcome: 'failure',
      data: { slot: '2026-11-22T10:02:00.000Z', code: 'CAIRN_LIFECYCLE_TRANSITION_INVALID' },
    });
    expect(book.get('tidy')!.nextSlot).toBe('2026-11-22T10:03:00.000Z');
  });
});

describe('time zones', () => {
  test('09:00 in Paris is 08:00Z in winter and 07:00Z in summer: the clock crosses both changes', () => {
    const { book, clock, runIds, finish } = setUp(Date.UTC(2026, 2, 27, 12));
    const paris = book.add({ scheduleId: 'paris', cron: '0 9 * * *', timeZone: 'europe/paris', spec, catchUp: 'latest' }, ana);
    expect(paris).toMatchObject({ timeZone: 'Europe/Paris', nextSlot: '2026-03-28T08:00:00.000Z' });
    const fireAt = (iso: string) => {
      clock.now = Date.parse(iso) + 5_000;
      expect(book.fireDue()).toBe(1);
      finish(`paris@${iso}`);
    };
    fireAt('2026-03-28T08:00:00.000Z'); // Saturday, still winter time (UTC+1)
    expect(book.get('paris')!.nextSlot).toBe('2026-03-29T07:00:00.000Z'); // clocks go forward that night
    fireAt('2026-03-29T07:00:00.000Z');
    fireAt('2026-03-30T07:00:00.000Z');
    clock.now = Date.UTC(2026, 9, 24, 12); // down until the autumn: the latest missed slot fires
    expect(book.fireDue()).toBe(1);
    expect(book.get('paris')!.nextSlot).toBe('2026-10-25T08:00:00.000Z'); // clocks go back that night
    finish('paris@2026-10-24T07:00:00.000Z');
    fireAt('2026-10-25T08:00:00.000Z');
    expect(runIds()).toEqual([
      'paris@2026-03-28T08:00:00.000Z',
      'paris@2026-03-29T07:00:00.000Z',
      'paris@2026-03-30T07:00:00.000Z',
      'paris@2026-10-24T07:00:00.000Z',
      'paris@2026-10-25T08:00:00.000Z',
    ]);
  });
});

describe('a slot fires once', () => {
  test('a crash between the submit and the schedule advance leaves nothing of the slot; after a restart it fires once', () => {
    const first = setUp();
    first.book.add(everyMinute(), ana);
    first.book.add({ scheduleId: 'other', cron: '* * * * *', spec }, ana);
    // The schedule row's update fails after the slot's run was submitted, as a crash there would.
    first.database.exec(
      `CREATE TRIGGER crash BEFORE UPDATE ON schedules WHEN OLD.schedule_id = 'tidy' BEGIN SELECT RAISE(ABORT, 'crashed before the advance'); END`,
    );
    first.clock.now += minute;
    expect(() => first.book.fireDue()).toThrow('crashed before the advance');
    // The other schedule was neither rolled back nor held up.
    expect(first.runIds()).toEqual(['other@2026-11-22T10:01:00.000Z']);
    expect(first.entries('schedule.fired').map((entry) => entry.entity.id)).toEqual(['other']);
    expect(first.book.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T10:01:00.000Z', lastRunId: null });
    first.database.exec('DROP TRIGGER crash');
    first.database.close();

    const restarted = setUp(first.clock.now, {}, first.path);
    expect(restarted.book.fireDue()).toBe(1);
    expect(restarted.book.fireDue()).toBe(0);
    expect(restarted.runIds()).toEqual(['other@2026-11-22T10:01:00.000Z', 'tidy@2026-11-22T10:01:00.000Z']);
    expect(restarted.entries('schedule.fired').map((entry) => entry.data)).toEqual([
      { slot: '2026-11-22T10:01:00.000Z', runId: 'other@2026-11-22T10:01:00.000Z', created: true },
      { slot: '2026-11-22T10:01:00.000Z', runId: 'tidy@2026-11-22T10:01:00.000Z', created: true },
    ]);
  });

  test('a process killed right after the submit: the restart finds the slot still due and fires it once', () => {
    const first = setUp();
    first.book.add(everyMinute(), ana);
    first.database.close();
    const child = fileURLToPath(new URL('./schedule-crash.test-support.ts', import.meta.url));
    const killed = spawnSync(process.execPath, ['--conditions=@cairn/source', child, first.path, String(start + minute)], { encoding: 'utf8' });
    expect([killed.signal, killed.stdout, killed.stderr]).toEqual(['SIGKILL', 'submitted tidy@2026-11-22T10:01:00.000Z true\n', '']);

    const restarted = setUp(start + minute, {}, first.path);
    expect(restarted.runIds()).toEqual([]);
    expect(restarted.book.get('tidy')!.nextSlot).toBe('2026-11-22T10:01:00.000Z');
    expect(restarted.book.fireDue()).toBe(1);
    expect(restarted.runIds()).toEqual(['tidy@2026-11-22T10:01:00.000Z']);
    expect(restarted.audit.runEntries('tidy@2026-11-22T10:01:00.000Z').map((entry) => entry.action)).toEqual(['run.submitted', 'item.ready']);
  });

  test('a slot whose run exists though the schedule was not advanced is deduplicated by its idempotency key', () => {
    const { book, clock, settings, runIds, entries } = setUp();
    book.add(everyMinute(), ana);
    // The slot's run committed on its own (a submit outside the book's transaction), the row not advanced.
    const slotRun = 'tidy@2026-11-22T10:01:00.000Z';
    expect(settings.submit(assertRunSpec(spec).spec, { actor: scheduleActor, runId: slotRun, idempotencyKey: slotRun }).created).toBe(true);
    clock.now += minute;
    const restarted = new ScheduleBook(settings);
    expect(restarted.fireDue()).toBe(0);
    expect(runIds()).toEqual([slotRun]);
    expect(entries('schedule.fired').map((entry) => entry.data)).toEqual([{ slot: '2026-11-22T10:01:00.000Z', runId: slotRun, created: false }]);
    expect(entries('run.submitted')).toHaveLength(1);
    expect(restarted.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T10:02:00.000Z', lastRunId: slotRun });
  });
});

describe('a submit that fails', () => {
  test('is audited with its error and does not wedge the schedule, nor hold up the others', () => {
    const { book, clock, settings, entries, runIds } = setUp(start, {});
    const failing = new ScheduleBook({
      ...settings,
      submit: (value, options) => {
        if (options.runId.startsWith('broken@'))
          throw new CairnError('CAIRN_RUN_SPEC_INVALID', 'Item tidy names executor "gpu", which this engine does not have.', { path: '$.items[0].executor' });
        return settings.submit(value, options);
      },
    });
    failing.add({ scheduleId: 'broken', cron: '* * * * *', spec }, ana);
    failing.add(everyMinute(), ana);
    clock.now += minute;
    expect(failing.fireDue()).toBe(1);
    expect(runIds()).toEqual(['tidy@2026-11-22T10:01:00.000Z']);
    expect(entries('schedule.fired').map((entry) => [entry.entity.id, entry.outcome, entry.data])).toEqual([
      [
        'broken',
        'failure',
        {
          slot: '2026-11-22T10:01:00.000Z',
          runId: 'broken@2026-11-22T10:01:00.000Z',
          code: 'CAIRN_RUN_SPEC_INVALID',
          message: 'Item tidy names executor "gpu", which this engine does not have.',
        },
      ],
      ['tidy', 'success', { slot: '2026-11-22T10:01:00.000Z', runId: 'tidy@2026-11-22T10:01:00.000Z', created: true }],
    ]);
    expect(failing.get('broken')).toMatchObject({ nextSlot: '2026-11-22T10:02:00.000Z', lastRunId: null });
    // Nothing of the refused submit is left; the next slot is tried again.
    expect(entries('run.submitted')).toHaveLength(1);
    clock.now += minute;
    failing.fireDue();
    expect(entries('schedule.fired').filter((entry) => entry.outcome === 'failure')).toHaveLength(2);
    expect(book.list().map((schedule) => schedule.nextSlot)).toEqual(['2026-11-22T10:03:00.000Z', '2026-11-22T10:03:00.000Z']);
  });
});

describe('a workspace fetched from a repository at the slot', () => {
  const fromRepository = { ...spec, workspace: { repository: 'https://git.example.com/app.git', ref: 'main' } };
  const snapshot = `sha256:${'ab'.repeat(32)}`;

  test('the slot fires once the fetch answers, with the commit and snapshot it filled in; a failed fetch is the slot’s audited failure', async () => {
    const fetches: { spec: unknown; answer: (value: unknown) => void; refuse: (error: unknown) => void }[] = [];
    let told = 0;
    const { book, clock, settings, entries, runIds, machine, finish } = setUp();
    const fetching = new ScheduleBook({
      ...settings,
      fetchWorkspace: (value) => new Promise((resolve, reject) => fetches.push({ spec: value, answer: resolve as (value: unknown) => void, refuse: reject })),
      fetched: () => told++,
    });
    fetching.add(everyMinute({ spec: fromRepository }), ana);
    fetching.add({ scheduleId: 'other', cron: '* * * * *', spec, overlap: 'allow' }, ana);
    clock.now += minute;
    // The fetch is asked for; the other schedule fires meanwhile, this one waits (and is not due).
    expect(fetching.fireDue()).toBe(1);
    expect(fetches.map((fetch) => fetch.spec)).toEqual([fromRepository]);
    expect(runIds()).toEqual(['other@2026-11-22T10:01:00.000Z']);
    expect(fetching.nextDueAt()).toBe(Date.UTC(2026, 10, 22, 10, 2));
    expect(fetching.fireDue()).toBe(0);
    expect(fetches).toHaveLength(1);
    // It answers after the slot's grace: the slot is still the one fired (not a missed one).
    clock.now = Date.UTC(2026, 10, 22, 10, 3, 20);
    fetches[0]!.answer({ ...fromRepository, workspace: { ...fromRepository.workspace, commit: 'c'.repeat(40), snapshot } });
    await new Promise((resolve) => setImmediate(resolve));
    expect(told).toBe(1);
    expect(fetching.fireDue()).toBe(2);
    expect(runIds()).toContain('tidy@2026-11-22T10:01:00.000Z');
    expect(machine.spec('tidy@2026-11-22T10:01:00.000Z')?.workspace).toEqual({ ...fromRepository.workspace, commit: 'c'.repeat(40), snapshot });
    expect(entries('schedule.skipped').filter((entry) => entry.entity.id === 'tidy')).toEqual([]);

    // The next slot's fetch fails: audited with its error, no run, and the schedule moves on.
    finish('tidy@2026-11-22T10:01:00.000Z');
    clock.now = Date.UTC(2026, 10, 22, 10, 5, 1);
    fetching.fireDue();
    expect(fetches).toHaveLength(2);
    fetches[1]!.refuse(new CairnError('CAIRN_FORGE_UNAVAILABLE', 'The repository could not be reached.', { path: '$.workspace.repository' }));
    await new Promise((resolve) => setImmediate(resolve));
    fetching.fireDue();
    const failed = entries('schedule.fired').filter((entry) => entry.entity.id === 'tidy' && entry.outcome === 'failure');
    expect(failed.map((entry) => entry.data)).toEqual([
      {
        slot: '2026-11-22T10:05:00.000Z',
        runId: 'tidy@2026-11-22T10:05:00.000Z',
        code: 'CAIRN_FORGE_UNAVAILABLE',
        message: 'The repository could not be reached.',
      },
    ]);
    expect(runIds().filter((runId) => runId.startsWith('tidy@'))).toEqual(['tidy@2026-11-22T10:01:00.000Z']);
    expect(book.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T10:06:00.000Z' });
  });
});

describe('definitions', () => {
  test('a definition with problems is refused with every one named by its path, spec included', () => {
    const { book } = setUp();
    let refused: unknown;
    try {
      book.add(
        {
          scheduleId: 'bad id!',
          cron: '61 * * * *',
          timeZone: 'Mars/Olympus',
          catchUp: { all: 0 },
          overlap: 'sometimes' as never,
          spec: { version: 1, name: 'x', items: [{ id: 'a' }] },
        },
        ana,
      );
    } catch (error) {
      refused = error;
    }
    expect(isCairnError(refused, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
    const error = refused as CairnError;
    expect(error.issues.map((issue) => issue.path)).toEqual([
      'schedule.scheduleId',
      'schedule.timeZone',
      'schedule.cron',
      'schedule.catchUp',
      'schedule.overlap',
      'schedule.spec.items[0].runtime',
    ]);
    expect(error.path).toBe('schedule.scheduleId');
    expect(error.message).toContain('Invalid value for minute: 61');
    expect(error.message).toContain('"Mars/Olympus" is not an IANA time zone');
    expect(book.list()).toEqual([]);
  });

  test.each([
    [{ scheduleId: 'x'.repeat(65) }, 'schedule.scheduleId'],
    [{ scheduleId: '' }, 'schedule.scheduleId'],
    [{ scheduleId: 'a/b' }, 'schedule.scheduleId'],
    [{ cron: '* * * *' }, 'schedule.cron'],
    [{ cron: '0 0 30 2 *' }, 'schedule.cron'],
    [{ catchUp: { all: 1001 } }, 'schedule.catchUp'],
    [{ catchUp: { all: 1.5 } }, 'schedule.catchUp'],
    [{ catchUp: 'all' as never }, 'schedule.catchUp'],
    [{ overlap: 'queue' as never }, 'schedule.overlap'],
  ] satisfies [Partial<ScheduleDefinition>, string][])('%j is refused at %s', (overrides, path) => {
    const { book } = setUp();
    expect(() => book.add(everyMinute({ overlap: 'allow', ...overrides }), ana)).toThrow(
      expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path, issues: [expect.objectContaining({ path })] }),
    );
  });

  test('ids of up to 64 letters, digits, ".", "_" and "-" are taken', () => {
    const { book } = setUp();
    for (const scheduleId of ['a', 'nightly.build_v2-eu', 'x'.repeat(64), '.hidden'])
      expect(book.add(everyMinute({ scheduleId }), ana).scheduleId).toBe(scheduleId);
  });

  test('a spec that is the only problem is refused as a submit refuses it; YAML text is read', () => {
    const { book } = setUp();
    expect(() => book.add(everyMinute({ spec: { version: 1, name: 'x', items: [] } }), ana)).toThrow(
      expect.objectContaining({ code: 'CAIRN_RUN_SPEC_INVALID' }),
    );
    const yaml = 'version: 1\nname: nightly\nitems:\n  - id: tidy\n    runtime: { kind: command, argv: [make, tidy] }\n';
    const fromText = book.add(everyMinute({ spec: yaml }), ana);
    // The same spec as a value: the same definition.
    expect(book.add(everyMinute(), ana)).toEqual(fromText);
  });

  test('adding the same definition again returns the stored schedule; another one under its id is a conflict', () => {
    const { book, clock, entries } = setUp();
    const created = book.add(everyMinute({ timeZone: 'Europe/Paris', catchUp: { all: 5 } }), ana);
    clock.now += 10 * minute;
    expect(book.add(everyMinute({ timeZone: 'europe/paris', catchUp: { all: 5 } }), { kind: 'user', id: 'bo', via: 'http' })).toEqual(created);
    expect(entries('schedule.created')).toHaveLength(1);
    for (const changed of [
      { cron: '0 * * * *' },
      { catchUp: { all: 6 } },
      { overlap: 'allow' as const },
      { timeZone: 'UTC' },
      { spec: { ...spec, name: 'weekly' } },
    ]) {
      expect(() => book.add(everyMinute({ timeZone: 'Europe/Paris', catchUp: { all: 5 }, ...changed }), ana)).toThrow(
        expect.objectContaining({ code: 'CAIRN_IDEMPOTENCY_CONFLICT', path: 'schedule.scheduleId' }),
      );
    }
  });

  test('remove deletes the schedule (its runs stay), audited; an unknown id is CAIRN_NOT_FOUND', () => {
    const { book, clock, entries, runIds } = setUp();
    book.add(everyMinute(), ana);
    clock.now += minute;
    book.fireDue();
    book.remove('tidy', ana);
    expect(book.list()).toEqual([]);
    expect(book.get('tidy')).toBeUndefined();
    expect(book.nextDueAt()).toBeNull();
    expect(entries('schedule.removed')[0]).toMatchObject({ actor: ana, entity: { kind: 'schedule', id: 'tidy' }, outcome: 'success' });
    clock.now += minute;
    expect(book.fireDue()).toBe(0);
    expect(runIds()).toEqual(['tidy@2026-11-22T10:01:00.000Z']);
    expect(() => book.remove('tidy', ana)).toThrow(expect.objectContaining({ code: 'CAIRN_NOT_FOUND', message: expect.stringContaining('"tidy"') }));
  });
});

describe('a full disk', () => {
  test('a slot whose submit meets a full database is not spent: the schedule stays due and fires the slot once there is room', () => {
    // The database may not grow while the slot's run is submitted (a real SQLITE_FULL, from
    // SQLite's page limit); a moment later there is room again, as when a disk is freed.
    let full = false;
    const { book, clock, runIds, entries, database, machine } = setUp(start, {
      submit: (value, options) => {
        if (!full) return machine.submit(value, options);
        const pages = database.pragma('page_count', { simple: true }) as number;
        database.pragma(`max_page_count = ${pages}`);
        try {
          return machine.submit(value, options);
        } finally {
          database.pragma('max_page_count = 1073741823');
        }
      },
    });
    // A large description: its run spec needs pages the database does not have.
    book.add(everyMinute({ spec: { ...spec, description: 'x'.repeat(60_000) } }), ana);
    clock.now = Date.UTC(2026, 10, 22, 10, 1, 2);
    full = true;
    expect(() => book.fireDue()).toThrow(expect.objectContaining({ code: 'SQLITE_FULL' }));
    expect(runIds()).toEqual([]);
    expect(book.get('tidy')).toMatchObject({ nextSlot: '2026-11-22T10:01:00.000Z', lastRunId: null });
    expect(entries('schedule.fired')).toEqual([]);
    full = false;
    expect(book.fireDue()).toBe(1);
    expect(runIds()).toEqual(['tidy@2026-11-22T10:01:00.000Z']);
    expect(entries('schedule.fired').map((entry) => entry.outcome)).toEqual(['success']);
  });
});
