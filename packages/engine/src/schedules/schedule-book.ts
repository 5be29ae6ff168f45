import type { AuditActor, RunSpecV1, RunState } from '@cairn/core';
import { CairnError, canonicalJson, digestOfJson, isCairnError, isTerminalState, runTransitions, type ValidationIssue } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { EngineDatabase } from '../database/open-engine-database.ts';
import { cronOf, dueSlots, type CatchUpPolicy } from './schedule-slots.ts';

/** Whether a slot may start while the previous slot's run is still live. */
export type OverlapPolicy = 'skip' | 'allow' | 'cancel-previous';

/** A schedule as a caller defines it. */
export interface ScheduleDefinition {
  /** Letters, digits, `-`, `_`, `.`; part of every slot's run id (`<scheduleId>@<slot time>`). */
  readonly scheduleId: string;
  /** A cron expression (five fields, or six with seconds first). */
  readonly cron: string;
  /** An IANA time zone the expression is read in; `UTC` by default. */
  readonly timeZone?: string;
  /** The run spec each slot submits (a parsed value or YAML/JSON text). */
  readonly spec: unknown;
  /** Slots missed while the engine was down: `skip` (default), `latest`, or `{ all: n }`. */
  readonly catchUp?: CatchUpPolicy;
  /** A slot due while the previous slot's run is live: `skip` (default), `allow`, `cancel-previous`. */
  readonly overlap?: OverlapPolicy;
}

/** A stored schedule. */
export interface ScheduleRecord {
  readonly scheduleId: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly catchUp: CatchUpPolicy;
  readonly overlap: OverlapPolicy;
  readonly specDigest: string;
  readonly createdBy: string;
  readonly createdAt: string;
  /** The next slot to handle (ISO time); null when the expression has no future slot. */
  readonly nextSlot: string | null;
  /** The run of the last slot fired. */
  readonly lastRunId: string | null;
}

export interface ScheduleBookSettings {
  readonly database: EngineDatabase;
  readonly audit: AuditLog;
  readonly now: () => number;
  /** Validates a spec as a submit would (throws CAIRN_RUN_SPEC_*); returns it parsed. */
  readonly validate: (spec: unknown) => RunSpecV1;
  /** Submits one slot's run, inside the book's transaction. */
  readonly submit: (spec: RunSpecV1, options: { readonly actor: AuditActor; readonly runId: string; readonly idempotencyKey: string }) => { readonly runId: string; readonly created: boolean };
  readonly runState: (runId: string) => RunState | undefined;
  readonly cancelRun: (runId: string, actor: AuditActor) => void;
  /** A slot older than this when it is handled was missed; 60 s by default. */
  readonly graceMs?: number;
}

type ScheduleRow = Omit<ScheduleRecord, 'catchUp' | 'specDigest'> & { catchUp: string; catchUpMax: number | null; spec: string };

const scheduleIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const overlapPolicies: readonly OverlapPolicy[] = ['skip', 'allow', 'cancel-previous'];
const columns = `schedule_id AS scheduleId, cron, time_zone AS timeZone, spec, catch_up AS catchUp, catch_up_max AS catchUpMax, overlap,
  created_by AS createdBy, created_at AS createdAt, next_slot AS nextSlot, last_run_id AS lastRunId`;

/**
 * Cron schedules in the engine database. Each due slot submits the schedule's spec as run
 * `<scheduleId>@<slot ISO time>` with that as its idempotency key too, and the submit, the audit
 * entry and the schedule's advance commit in one transaction: a slot fires once, even across a
 * crash, and a second fire of the same slot returns the same run.
 */
export class ScheduleBook {
  readonly #settings: ScheduleBookSettings;
  readonly #graceMs: number;
  readonly #statements;

  constructor(settings: ScheduleBookSettings) {
    this.#settings = settings;
    this.#graceMs = settings.graceMs ?? 60_000;
    const prepare = settings.database.prepare.bind(settings.database);
    this.#statements = {
      insert: prepare(
        `INSERT INTO schedules (schedule_id, cron, time_zone, spec, catch_up, catch_up_max, overlap, created_by, created_at, next_slot)
         VALUES (@scheduleId, @cron, @timeZone, @spec, @catchUp, @catchUpMax, @overlap, @createdBy, @createdAt, @nextSlot)`,
      ),
      get: prepare<[string], ScheduleRow>(`SELECT ${columns} FROM schedules WHERE schedule_id = ?`),
      list: prepare<[], ScheduleRow>(`SELECT ${columns} FROM schedules ORDER BY schedule_id`),
      due: prepare<[string], ScheduleRow>(`SELECT ${columns} FROM schedules WHERE next_slot IS NOT NULL AND next_slot <= ? ORDER BY next_slot`),
      nextDue: prepare<[], { nextSlot: string | null }>('SELECT MIN(next_slot) AS nextSlot FROM schedules WHERE next_slot IS NOT NULL'),
      advance: prepare('UPDATE schedules SET next_slot = ?, last_run_id = COALESCE(?, last_run_id) WHERE schedule_id = ?'),
      remove: prepare('DELETE FROM schedules WHERE schedule_id = ?'),
    };
  }

  /**
   * Adds a schedule, checking everything at once (CAIRN_CONFIG_INVALID listing each problem with
   * its field; the spec's own problems as a submit reports them). Adding the same definition again
   * returns the stored schedule; another definition under a taken id is CAIRN_IDEMPOTENCY_CONFLICT.
   */
  add(definition: ScheduleDefinition, actor: AuditActor): ScheduleRecord {
    const timeZone = definition.timeZone ?? 'UTC';
    const catchUp = definition.catchUp ?? 'skip';
    const overlap = definition.overlap ?? 'skip';
    const issues = definitionIssues(definition, timeZone, catchUp, overlap);
    let spec: RunSpecV1 | undefined;
    try {
      spec = this.#settings.validate(definition.spec);
    } catch (error) {
      // Alone, the spec's problems are reported as a submit reports them; with others, together.
      if (issues.length === 0 || !isCairnError(error)) throw error;
      const specIssues = error.issues.length > 0 ? error.issues : [{ code: error.code, path: error.path ?? '$', message: error.message }];
      for (const issue of specIssues) {
        issues.push({ ...issue, path: `schedule.spec${issue.path.slice(1)}` });
      }
    }
    if (issues.length > 0 || spec === undefined) {
      throw new CairnError('CAIRN_CONFIG_INVALID', `The schedule is not valid: ${issues.map((issue) => `${issue.path} ${issue.message}`).join('; ')}.`, { path: issues[0]!.path, issues });
    }
    const specDigest = digestOfJson(spec);
    const existing = this.get(definition.scheduleId);
    if (existing) {
      const same = existing.cron === definition.cron && existing.timeZone === timeZone && existing.specDigest === specDigest && JSON.stringify(existing.catchUp) === JSON.stringify(catchUp) && existing.overlap === overlap;
      if (same) return existing;
      throw new CairnError('CAIRN_IDEMPOTENCY_CONFLICT', `A schedule named ${definition.scheduleId} already exists with another definition; remove it first or choose another id.`, {
        path: 'schedule.scheduleId',
        details: { scheduleId: definition.scheduleId },
      });
    }
    const now = this.#settings.now();
    const next = cronOf(definition.cron, timeZone).nextRun(new Date(now));
    this.#settings.database.transaction(() => {
      this.#statements.insert.run({
        scheduleId: definition.scheduleId,
        cron: definition.cron,
        timeZone,
        spec: canonicalJson(spec),
        catchUp: typeof catchUp === 'string' ? catchUp : 'all',
        catchUpMax: typeof catchUp === 'string' ? null : catchUp.all,
        overlap,
        createdBy: actor.id,
        createdAt: new Date(now).toISOString(),
        nextSlot: next?.toISOString() ?? null,
      });
      this.#auditSchedule('schedule.created', definition.scheduleId, actor, 'success', { cron: definition.cron, timeZone, catchUp: typeof catchUp === 'string' ? catchUp : { all: catchUp.all }, overlap, specDigest });
    })();
    return this.get(definition.scheduleId)!;
  }

  /** Removes a schedule (its runs stay); CAIRN_NOT_FOUND for an unknown id. */
  remove(scheduleId: string, actor: AuditActor): void {
    this.#settings.database.transaction(() => {
      if (this.#statements.remove.run(scheduleId).changes === 0) throw new CairnError('CAIRN_NOT_FOUND', `There is no schedule named ${scheduleId}.`, { details: { scheduleId } });
      this.#auditSchedule('schedule.removed', scheduleId, actor, 'success', {});
    })();
  }

  get(scheduleId: string): ScheduleRecord | undefined {
    const row = this.#statements.get.get(scheduleId);
    return row && toRecord(row);
  }

  list(): ScheduleRecord[] {
    return this.#statements.list.all().map(toRecord);
  }

  /** When the next slot of any schedule is due (ms since the epoch), if any. */
  nextDueAt(): number | null {
    const next = this.#statements.nextDue.get()!.nextSlot;
    return next === null ? null : Date.parse(next);
  }

  /** Fires every due slot under its schedule's catch-up and overlap policies; returns the runs submitted. */
  fireDue(): number {
    const now = this.#settings.now();
    let submitted = 0;
    for (const row of this.#statements.due.all(new Date(now).toISOString())) {
      submitted += this.#settings.database.transaction(() => this.#fire(row, now))();
    }
    return submitted;
  }

  #fire(row: ScheduleRow, now: number): number {
    const schedule = toRecord(row);
    const actor: AuditActor = { kind: 'system', id: `schedule:${schedule.scheduleId}`, via: 'schedule' };
    const { fire, skipped, next } = dueSlots(cronOf(schedule.cron, schedule.timeZone), Date.parse(row.nextSlot!), now, schedule.catchUp, this.#graceMs);
    if (skipped > 0) {
      this.#auditSchedule('schedule.skipped', schedule.scheduleId, actor, 'success', { count: skipped, from: row.nextSlot!, reason: `missed while the engine was down (catch-up: ${catchUpText(schedule.catchUp)})` });
    }
    let lastRunId: string | null = null;
    let submitted = 0;
    for (const slot of fire) {
      const slotTime = new Date(slot).toISOString();
      const previous = lastRunId ?? schedule.lastRunId;
      const previousState = previous === null ? undefined : this.#settings.runState(previous);
      if (previous !== null && previousState !== undefined && !isTerminalState(runTransitions, previousState)) {
        if (schedule.overlap === 'skip') {
          this.#auditSchedule('schedule.skipped', schedule.scheduleId, actor, 'success', { count: 1, from: slotTime, reason: `run ${previous} of an earlier slot is still ${previousState} (overlap: skip)` });
          continue;
        }
        if (schedule.overlap === 'cancel-previous') this.#settings.cancelRun(previous, actor);
      }
      const runId = `${schedule.scheduleId}@${slotTime}`;
      try {
        // A savepoint of its own: a submit that fails leaves nothing behind but its audit entry.
        const result = this.#settings.database.transaction(() => this.#settings.submit(JSON.parse(row.spec) as RunSpecV1, { actor, runId, idempotencyKey: runId }))();
        this.#auditSchedule('schedule.fired', schedule.scheduleId, actor, 'success', { slot: slotTime, runId: result.runId, created: result.created });
        lastRunId = result.runId;
        if (result.created) submitted++;
      } catch (error) {
        // The schedule moves on: a spec that no longer fits the server must not wedge it.
        const reason = isCairnError(error) ? `${error.code}: ${error.message}` : String(error);
        this.#auditSchedule('schedule.fired', schedule.scheduleId, actor, 'failure', { slot: slotTime, runId, reason });
      }
    }
    this.#statements.advance.run(next === null ? null : new Date(next).toISOString(), lastRunId, schedule.scheduleId);
    return submitted;
  }

  #auditSchedule(action: 'schedule.created' | 'schedule.removed' | 'schedule.fired' | 'schedule.skipped', scheduleId: string, actor: AuditActor, outcome: 'success' | 'failure', data: Record<string, string | number | boolean | Record<string, number>>): void {
    this.#settings.audit.append({ actor, action, entity: { kind: 'schedule', id: scheduleId }, outcome, data });
  }
}

function toRecord(row: ScheduleRow): ScheduleRecord {
  const { spec, catchUp, catchUpMax, ...rest } = row;
  return { ...rest, catchUp: catchUp === 'all' ? { all: catchUpMax! } : (catchUp as 'skip' | 'latest'), specDigest: digestOfJson(JSON.parse(spec)) };
}

function catchUpText(policy: CatchUpPolicy): string {
  return typeof policy === 'string' ? policy : `all(${policy.all})`;
}

/** Every problem of a definition apart from its spec, each naming its field. */
function definitionIssues(definition: ScheduleDefinition, timeZone: string, catchUp: CatchUpPolicy, overlap: OverlapPolicy): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const problem = (field: string, message: string) => issues.push({ code: 'CAIRN_CONFIG_INVALID', path: `schedule.${field}`, message });
  if (typeof definition.scheduleId !== 'string' || !scheduleIdPattern.test(definition.scheduleId)) {
    problem('scheduleId', 'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit (it becomes part of run ids)');
  }
  let zoneValid = true;
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    zoneValid = false;
    problem('timeZone', `${JSON.stringify(timeZone)} is not an IANA time zone; write one such as "UTC" or "Europe/Paris"`);
  }
  try {
    cronOf(definition.cron, zoneValid ? timeZone : 'UTC').nextRun();
  } catch (error) {
    problem('cron', `${JSON.stringify(definition.cron)} is not a cron expression (${(error as Error).message}); write five fields, e.g. "0 9 * * 1-5"`);
  }
  const catchUpValid = catchUp === 'skip' || catchUp === 'latest' || (typeof catchUp === 'object' && catchUp !== null && Number.isInteger(catchUp.all) && catchUp.all >= 1 && catchUp.all <= 1_000);
  if (!catchUpValid) problem('catchUp', 'must be "skip", "latest" or { all: n } with n a whole number from 1 to 1000');
  if (!overlapPolicies.includes(overlap)) problem('overlap', `must be one of ${overlapPolicies.map((policy) => `"${policy}"`).join(', ')}`);
  return issues;
}
