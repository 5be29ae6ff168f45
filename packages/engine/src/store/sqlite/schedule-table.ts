import type { CatchUpPolicy } from '../../schedules/schedule-slots.ts';
import { scheduleRecordOf, type OverlapPolicy, type ScheduleRecord, type ScheduleRow } from '../../schedules/schedule-book.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';

/** A schedule as it is first stored. */
export interface NewSchedule {
  readonly scheduleId: string;
  readonly cron: string;
  readonly timeZone: string;
  /** The canonical JSON of the spec every slot submits. */
  readonly spec: string;
  readonly catchUp: CatchUpPolicy;
  readonly overlap: OverlapPolicy;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly nextSlot: string;
}

/** A schedule with a slot due, and the spec its slots submit. */
export interface DueSchedule {
  readonly schedule: ScheduleRecord;
  /** The spec as stored (canonical JSON): each slot parses a copy of its own. */
  readonly spec: string;
}

const columns = `schedule_id AS scheduleId, cron, time_zone AS timeZone, spec, catch_up AS catchUp, catch_up_max AS catchUpMax, overlap,
  created_by AS createdBy, created_at AS createdAt, next_slot AS nextSlot, last_run_id AS lastRunId`;

/** The cron schedules, a row each: the definition, and the next slot to handle. */
export class ScheduleTable {
  readonly #add;
  readonly #get;
  readonly #list;
  readonly #due;
  readonly #earliestSlot;
  readonly #advance;
  readonly #remove;

  constructor(database: EngineDatabase) {
    this.#add = database.prepare<[Record<string, string | number | null>]>(
      `INSERT INTO schedules (schedule_id, cron, time_zone, spec, catch_up, catch_up_max, overlap, created_by, created_at, next_slot)
       VALUES (@scheduleId, @cron, @timeZone, @spec, @catchUp, @catchUpMax, @overlap, @createdBy, @createdAt, @nextSlot)`,
    );
    this.#get = database.prepare<[string], ScheduleRow>(`SELECT ${columns} FROM schedules WHERE schedule_id = ?`);
    this.#list = database.prepare<[], ScheduleRow>(`SELECT ${columns} FROM schedules ORDER BY schedule_id`);
    // `schedules_due` is a partial index on next_slot: the condition must name it to use it.
    this.#due = database.prepare<[string], ScheduleRow>(`SELECT ${columns} FROM schedules WHERE next_slot IS NOT NULL AND next_slot <= ? ORDER BY next_slot`);
    this.#earliestSlot = database.prepare<[], { nextSlot: string | null }>('SELECT MIN(next_slot) AS nextSlot FROM schedules WHERE next_slot IS NOT NULL');
    this.#advance = database.prepare<[string | null, string | null, string]>(
      'UPDATE schedules SET next_slot = ?, last_run_id = COALESCE(?, last_run_id) WHERE schedule_id = ?',
    );
    this.#remove = database.prepare<[string]>('DELETE FROM schedules WHERE schedule_id = ?');
  }

  add(schedule: NewSchedule): void {
    const { catchUp, ...rest } = schedule;
    this.#add.run({ ...rest, catchUp: typeof catchUp === 'string' ? catchUp : 'all', catchUpMax: typeof catchUp === 'string' ? null : catchUp.all });
  }

  get(scheduleId: string): ScheduleRecord | undefined {
    const row = this.#get.get(scheduleId);
    return row && scheduleRecordOf(row);
  }

  /** Every schedule, by id. */
  list(): ScheduleRecord[] {
    return this.#list.all().map(scheduleRecordOf);
  }

  /** The schedules whose next slot is at `time` or before, earliest slot first. */
  due(time: string): DueSchedule[] {
    return this.#due.all(time).map((row) => ({ schedule: scheduleRecordOf(row), spec: row.spec }));
  }

  /** The earliest next slot of any schedule; null when none has one. */
  earliestSlot(): string | null {
    return this.#earliestSlot.get()!.nextSlot;
  }

  /** Moves a schedule on to `nextSlot` (null: it has none), recording `lastRunId` as its last run when not null. */
  advance(scheduleId: string, nextSlot: string | null, lastRunId: string | null): void {
    this.#advance.run(nextSlot, lastRunId, scheduleId);
  }

  /** Removes a schedule; false when there was none by that id. */
  remove(scheduleId: string): boolean {
    return this.#remove.run(scheduleId).changes > 0;
  }
}
