import type { AuditActor, JsonObject, RunSpecV1, RunState } from '@cairn/core';
import { CairnError, canonicalJson, digestOfJson, isCairnError, isTerminalState, runTransitions, type ValidationIssue } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { DueSchedule } from '../store/sqlite/schedule-table.ts';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';
import { cronOf, dueSlots, type CatchUpPolicy, type SkippedSlots } from './schedule-slots.ts';
import { storageFullReason } from '../store/storage-full.ts';

/** Whether a slot may start while the previous slot's run is still live. */
export type OverlapPolicy = 'skip' | 'allow' | 'cancel-previous';

/** A schedule as a caller defines it. */
export interface ScheduleDefinition {
  /** Letters, digits, `-`, `_`, `.`; part of every slot's run id (`<scheduleId>@<slot time>`). */
  readonly scheduleId: string;
  /** A cron expression (five fields, or six with seconds first), read by croner. */
  readonly cron: string;
  /** An IANA time zone the expression is read in; `UTC` by default. */
  readonly timeZone?: string;
  /** The run spec each slot submits (a parsed value or YAML/JSON text, as `validate` accepts). */
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
  /** The IANA time zone, as Intl spells it (`europe/paris` is stored as `Europe/Paris`). */
  readonly timeZone: string;
  readonly catchUp: CatchUpPolicy;
  readonly overlap: OverlapPolicy;
  /** The digest of the canonical spec every slot submits (the runs' `specDigest`). */
  readonly specDigest: string;
  readonly createdBy: string;
  readonly createdAt: string;
  /** The next slot to handle (ISO time); null when the expression has no later slot. */
  readonly nextSlot: string | null;
  /** The run of the last slot fired. */
  readonly lastRunId: string | null;
}

export interface ScheduleBookSettings {
  readonly workingCopy: WorkingCopy;
  readonly audit: AuditLog;
  readonly now: () => number;
  /** Validates a spec exactly as a submit would (throws CairnError CAIRN_RUN_SPEC_*); returns the canonical spec. */
  readonly validate: (spec: unknown) => RunSpecV1;
  /**
   * Submits one slot's run with `runId` and `idempotencyKey` both `<scheduleId>@<slot ISO time>`.
   * Called inside the book's transaction: the run, the `schedule.fired` entry and the schedule's
   * advance commit together.
   */
  readonly submit: (
    spec: RunSpecV1,
    options: { readonly actor: AuditActor; readonly runId: string; readonly idempotencyKey: string },
  ) => { readonly runId: string; readonly created: boolean };
  /** The state of a run, undefined when there is none: a live one makes the overlap policy apply. */
  readonly runState: (runId: string) => RunState | undefined;
  /** Cancels a run, for overlap `cancel-previous`. */
  readonly cancelRun: (runId: string, actor: AuditActor) => void;
  /** A slot more than this old when it is handled was missed (the catch-up policy applies); 60 s by default. */
  readonly graceMs?: number;
  /**
   * Fetches the workspace of a spec naming `workspace.repository` (filling in its `commit` and
   * `snapshot`), as the host does at a submit: asked when such a schedule's slot is due, outside
   * any transaction (a fetch may take minutes), and the slot fires on a later turn with the fetched
   * spec; a rejection is that slot's failure, audited as a refused submit is. Without it, such a
   * slot's submit is refused (the workspace was not fetched).
   */
  readonly fetchWorkspace?: (spec: RunSpecV1) => Promise<RunSpecV1>;
  /** Told when a fetch for a slot has ended, so that the slot fires without waiting for the next one. */
  readonly fetched?: () => void;
}

/** A slot's fetched workspace (its spec, or why not), for the schedule's next slot and spec when it was asked. */
interface FetchedSlot {
  /** The schedule's `nextSlot` and stored spec when the fetch began: a result for another is dropped. */
  readonly key: string;
  /** When the fetch began: the slots due then are the ones it fires. */
  readonly at: number;
  readonly outcome: { readonly spec: RunSpecV1 } | { readonly error: unknown };
}

/** A schedule's row as readers select it (from SQLite or PostgreSQL), before `scheduleRecordOf`. */
export type ScheduleRow = Omit<ScheduleRecord, 'catchUp' | 'specDigest'> & { catchUp: string; catchUpMax: number | null; spec: string };

type ScheduleAction = 'schedule.created' | 'schedule.removed' | 'schedule.fired' | 'schedule.skipped';

const scheduleIdPattern = /^[A-Za-z0-9._-]{1,64}$/;
const overlapPolicies: readonly OverlapPolicy[] = ['skip', 'allow', 'cancel-previous'];
const catchUpMaxLimit = 1_000;

/**
 * Cron schedules in the working copy. Each fired slot submits the schedule's spec as run
 * `<scheduleId>@<slot ISO time>`, with that as its idempotency key too, and the submit, its
 * `schedule.fired` entry and the schedule's advance commit in one transaction: a crash before the
 * commit leaves the slot due and nothing of it behind, so the next start fires it once. Should a
 * slot's run exist without the advance anyway (a submit that committed on its own), the re-fire
 * finds it by the key and returns it (`created: false`) rather than running the slot twice.
 */
export class ScheduleBook {
  readonly #settings: ScheduleBookSettings;
  readonly #graceMs: number;
  readonly #workingCopy: WorkingCopy;
  /**
   * No schedule has a slot due before this (ms), or none has one at all (null); undefined until
   * read from the working copy (after a start, after firing or removing one). Kept early, never late:
   * adding a schedule lowers it (one whose transaction rolls back leaves it early: one read too many).
   */
  #dueFrom: number | null | undefined;
  /** Schedules whose slot's workspace is being fetched: not due until it is. */
  readonly #fetching = new Set<string>();
  /** Fetches that ended, by schedule, until their slot fires. */
  readonly #fetched = new Map<string, FetchedSlot>();

  constructor(settings: ScheduleBookSettings) {
    this.#settings = settings;
    this.#graceMs = settings.graceMs ?? 60_000;
    this.#workingCopy = settings.workingCopy;
  }

  /**
   * Adds a schedule whose first slot is the first one strictly after now. Everything is checked at
   * once: CAIRN_PAYLOAD_INVALID (the caller's definition is wrong) lists each problem with its
   * field (`schedule.cron`, ...), the
   * spec's among them; a spec that is the only problem is refused as a submit would refuse it.
   * Adding the same definition again returns the stored schedule (a retried request is harmless);
   * another definition under a taken id is CAIRN_IDEMPOTENCY_CONFLICT.
   */
  add(definition: ScheduleDefinition, actor: AuditActor): ScheduleRecord {
    const now = this.#settings.now();
    const catchUp = definition.catchUp ?? 'skip';
    const overlap = definition.overlap ?? 'skip';
    const { issues, timeZone } = definitionIssues(definition, catchUp, overlap, now);
    let spec: RunSpecV1 | undefined;
    try {
      spec = this.#settings.validate(definition.spec);
    } catch (error) {
      // Alone, the spec's problems are reported as a submit reports them; with others, together.
      if (issues.length === 0 || !isCairnError(error)) throw error;
      const specIssues = error.issues.length > 0 ? error.issues : [{ code: error.code, path: error.path ?? '$', message: error.message }];
      for (const issue of specIssues) issues.push({ ...issue, path: `schedule.spec${issue.path.replace(/^\$/, '')}` });
    }
    if (issues.length > 0 || spec === undefined) {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `The schedule is not valid: ${issues.map((issue) => `${issue.path} ${issue.message}`).join('; ')}.`, {
        path: issues[0]!.path,
        issues,
      });
    }
    const canonicalSpec = canonicalJson(spec);
    const specDigest = digestOfJson(spec);
    const scheduleId = definition.scheduleId;
    return this.#workingCopy.transaction((): ScheduleRecord => {
      const existing = this.get(scheduleId);
      if (existing) {
        const same =
          existing.cron === definition.cron &&
          existing.timeZone === timeZone &&
          existing.specDigest === specDigest &&
          catchUpText(existing.catchUp) === catchUpText(catchUp) &&
          existing.overlap === overlap;
        if (same) return existing;
        throw new CairnError(
          'CAIRN_IDEMPOTENCY_CONFLICT',
          `A schedule named ${scheduleId} already exists with another definition: remove it first, or choose another scheduleId.`,
          {
            path: 'schedule.scheduleId',
            details: { scheduleId },
          },
        );
      }
      const next = cronOf(definition.cron, timeZone).nextRun(new Date(now))!;
      if (this.#dueFrom !== undefined) this.#dueFrom = Math.min(this.#dueFrom ?? Infinity, next.getTime());
      this.#workingCopy.schedules.add({
        scheduleId,
        cron: definition.cron,
        timeZone,
        spec: canonicalSpec,
        catchUp,
        overlap,
        createdBy: actor.id,
        createdAt: new Date(now).toISOString(),
        nextSlot: next.toISOString(),
      });
      this.#audit('schedule.created', scheduleId, actor, 'success', {
        cron: definition.cron,
        timeZone,
        catchUp: typeof catchUp === 'string' ? catchUp : { all: catchUp.all },
        overlap,
        specDigest,
        nextSlot: next.toISOString(),
      });
      return this.get(scheduleId)!;
    })();
  }

  /** Removes a schedule (the runs it submitted stay); CAIRN_NOT_FOUND for an unknown id. */
  remove(scheduleId: string, actor: AuditActor): void {
    this.#workingCopy.transaction(() => {
      if (!this.#workingCopy.schedules.remove(scheduleId)) {
        throw new CairnError('CAIRN_NOT_FOUND', `There is no schedule named ${JSON.stringify(scheduleId)}; list the schedules to see their ids.`, {
          path: 'scheduleId',
          details: { scheduleId },
        });
      }
      this.#audit('schedule.removed', scheduleId, actor, 'success', {});
      // It may have held the earliest slot: read it again when asked.
      this.#dueFrom = undefined;
    })();
  }

  get(scheduleId: string): ScheduleRecord | undefined {
    return this.#workingCopy.schedules.get(scheduleId);
  }

  /** Every schedule, by id. */
  list(): ScheduleRecord[] {
    return this.#workingCopy.schedules.list();
  }

  /** When the earliest next slot of any schedule is due (ms since the epoch), for the engine loop's sleep; null when none is. */
  nextDueAt(): number | null {
    if (this.#dueFrom !== undefined) return this.#dueFrom;
    // A schedule whose workspace is being fetched is due when the fetch ends (which reads this again).
    const next =
      this.#fetching.size === 0
        ? this.#workingCopy.schedules.earliestSlot()
        : (this.list()
            .filter((schedule) => schedule.nextSlot !== null && !this.#fetching.has(schedule.scheduleId))
            .map((schedule) => schedule.nextSlot!)
            .sort()[0] ?? null);
    this.#dueFrom = next === null ? null : Date.parse(next);
    return this.#dueFrom;
  }

  /**
   * Fires every due slot under its schedule's catch-up and overlap policies; returns how many runs
   * were created. Each schedule is handled in a transaction of its own, so one that fails (the
   * database refusing a write) neither rolls back nor holds up the others: it stays due and the
   * first such error is thrown once all the others are handled. A slot whose submit is refused
   * does not count as such a failure — it is audited and the schedule moves on.
   */
  fireDue(): number {
    const now = this.#settings.now();
    // The loop asks on every turn: nothing is read while no slot can be due.
    if (this.#dueFrom === null || (this.#dueFrom !== undefined && this.#dueFrom > now)) return 0;
    // Read again after firing: the slots fired moved on (and a schedule that failed stays due).
    this.#dueFrom = undefined;
    let created = 0;
    let failure: { readonly error: unknown } | undefined;
    for (const due of this.#workingCopy.schedules.due(new Date(now).toISOString())) {
      const fetched = this.#fetchedSlot(due, now);
      if (fetched === 'fetching') continue;
      try {
        created += this.#workingCopy.transaction(() => this.#fire(due, fetched?.at ?? now, fetched?.outcome))();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
    this.nextDueAt();
    return created;
  }

  /**
   * For a schedule whose spec names `workspace.repository`: the fetch of its due slot's workspace
   * once it has ended, or 'fetching' while it has not (begun now if need be); undefined for any
   * other schedule, or without `fetchWorkspace`.
   */
  #fetchedSlot({ schedule, spec }: DueSchedule, now: number): FetchedSlot | 'fetching' | undefined {
    const fetchWorkspace = this.#settings.fetchWorkspace;
    if (fetchWorkspace === undefined || !namesRepository(spec)) return undefined;
    const { scheduleId } = schedule;
    const key = `${schedule.nextSlot}\n${spec}`;
    const ended = this.#fetched.get(scheduleId);
    this.#fetched.delete(scheduleId);
    if (ended?.key === key) return ended;
    if (this.#fetching.has(scheduleId)) return 'fetching';
    this.#fetching.add(scheduleId);
    const settle = (outcome: FetchedSlot['outcome']) => {
      this.#fetching.delete(scheduleId);
      this.#fetched.set(scheduleId, { key, at: now, outcome });
      this.#dueFrom = undefined;
      this.#settings.fetched?.();
    };
    let pending: Promise<RunSpecV1>;
    try {
      pending = fetchWorkspace(JSON.parse(spec) as RunSpecV1);
    } catch (error) {
      pending = Promise.reject(error);
    }
    void pending.then(
      (fetched) => settle({ spec: fetched }),
      (error: unknown) => settle({ error }),
    );
    return 'fetching';
  }

  #fire({ schedule, spec }: DueSchedule, now: number, fetched?: FetchedSlot['outcome']): number {
    const scheduleId = schedule.scheduleId;
    const actor: AuditActor = { kind: 'system', id: `schedule:${scheduleId}`, via: 'schedule' };
    const { fire, skipped, next } = dueSlots(cronOf(schedule.cron, schedule.timeZone), Date.parse(schedule.nextSlot!), now, schedule.catchUp, this.#graceMs);
    if (skipped)
      this.#audit('schedule.skipped', scheduleId, actor, 'success', { ...skippedData(skipped), reason: `catch-up: ${catchUpText(schedule.catchUp)}` });
    let lastRunId: string | null = null;
    let created = 0;
    for (const slot of fire) {
      const slotTime = new Date(slot).toISOString();
      const runId = `${scheduleId}@${slotTime}`;
      const previous = livePrevious(lastRunId ?? schedule.lastRunId, this.#settings.runState);
      if (previous && schedule.overlap === 'skip') {
        this.#audit('schedule.skipped', scheduleId, actor, 'success', {
          count: 1,
          countCapped: false,
          first: slotTime,
          last: slotTime,
          reason: 'overlap',
          previousRunId: previous.runId,
          previousState: previous.state,
        });
        continue;
      }
      try {
        // A savepoint of its own: a slot that fails leaves nothing behind but its audit entry.
        // A fetch that failed is each slot's failure, as a refused submit is.
        if (fetched !== undefined && 'error' in fetched) throw fetched.error;
        const result = this.#workingCopy.transaction(() => {
          if (previous && schedule.overlap === 'cancel-previous') this.#settings.cancelRun(previous.runId, actor);
          return this.#settings.submit(fetched?.spec ?? (JSON.parse(spec) as RunSpecV1), { actor, runId, idempotencyKey: runId });
        })();
        this.#audit('schedule.fired', scheduleId, actor, 'success', {
          slot: slotTime,
          runId: result.runId,
          created: result.created,
          ...(previous ? { previousRunId: previous.runId, overlap: schedule.overlap } : {}),
        });
        lastRunId = result.runId;
        if (result.created) created++;
      } catch (error) {
        // A full disk is the machine's failure, not the slot's: the schedule's transaction rolls
        // back (SQLite may already have rolled all of it back) and the slot stays due, to fire once
        // there is room. Carrying on here would write the rest outside any transaction.
        if (storageFullReason(error) !== undefined) throw error;
        // The schedule moves on: a spec that no longer fits the server (an executor removed since)
        // must not wedge it, nor hold up the other schedules.
        this.#audit('schedule.fired', scheduleId, actor, 'failure', { slot: slotTime, runId, ...errorData(error) });
      }
    }
    this.#workingCopy.schedules.advance(scheduleId, next === null ? null : new Date(next).toISOString(), lastRunId);
    return created;
  }

  #audit(action: ScheduleAction, scheduleId: string, actor: AuditActor, outcome: 'success' | 'failure', data: JsonObject): void {
    this.#settings.audit.append({ actor, action, entity: { kind: 'schedule', id: scheduleId }, outcome, data });
  }
}

/** Whether a stored spec's workspace is to be fetched from a repository (and was not). */
function namesRepository(spec: string): boolean {
  const workspace = (JSON.parse(spec) as RunSpecV1).workspace;
  return workspace?.repository !== undefined && workspace.snapshot === undefined;
}

/** The previous slot's run when it is still live (neither ended nor unknown): the overlap policy applies. */
function livePrevious(
  runId: string | null,
  runState: (runId: string) => RunState | undefined,
): { readonly runId: string; readonly state: RunState } | undefined {
  const state = runId === null ? undefined : runState(runId);
  return runId !== null && state !== undefined && !isTerminalState(runTransitions, state) ? { runId, state } : undefined;
}

/** A schedule as readers see it, from its row (whichever database it was read from). */
export function scheduleRecordOf(row: ScheduleRow): ScheduleRecord {
  const { spec, catchUp, catchUpMax, ...rest } = row;
  return { ...rest, catchUp: catchUp === 'all' ? { all: catchUpMax! } : (catchUp as 'skip' | 'latest'), specDigest: digestOfJson(JSON.parse(spec)) };
}

/** `skip`, `latest` or `all(n)`: how the audit log and the idempotency check spell a policy. */
function catchUpText(policy: CatchUpPolicy): string {
  return typeof policy === 'string' ? policy : `all(${policy.all})`;
}

function skippedData(skipped: SkippedSlots): JsonObject {
  return { count: skipped.count, countCapped: skipped.countCapped, first: new Date(skipped.first).toISOString(), last: new Date(skipped.last).toISOString() };
}

function errorData(error: unknown): JsonObject {
  if (isCairnError(error)) return { code: error.code, message: error.message };
  return { message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
}

/**
 * Every problem of a definition apart from its spec, each naming its field, and the time zone as
 * Intl spells it (stored so, an id compares equal however it was cased).
 */
function definitionIssues(
  definition: ScheduleDefinition,
  catchUp: CatchUpPolicy,
  overlap: OverlapPolicy,
  now: number,
): { issues: ValidationIssue[]; timeZone: string } {
  const issues: ValidationIssue[] = [];
  const problem = (field: string, message: string) => issues.push({ code: 'CAIRN_PAYLOAD_INVALID', path: `schedule.${field}`, message });
  if (typeof definition.scheduleId !== 'string' || !scheduleIdPattern.test(definition.scheduleId)) {
    problem(
      'scheduleId',
      `${JSON.stringify(definition.scheduleId)} must be 1 to 64 letters, digits, ".", "_" or "-" (it becomes part of run ids <scheduleId>@<slot>)`,
    );
  }
  const requested = definition.timeZone ?? 'UTC';
  let timeZone: string | undefined;
  try {
    timeZone = new Intl.DateTimeFormat('en', { timeZone: requested }).resolvedOptions().timeZone;
  } catch {
    problem('timeZone', `${JSON.stringify(requested)} is not an IANA time zone; write one such as "UTC" or "Europe/Paris"`);
  }
  try {
    // Read in UTC when the zone is wrong, so the expression's own problems are still reported.
    if (cronOf(definition.cron, timeZone ?? 'UTC').nextRun(new Date(now)) === null) {
      problem('cron', `${JSON.stringify(definition.cron)} has no slot after now, so it would never fire; check its day and month fields`);
    }
  } catch (error) {
    problem(
      'cron',
      `${JSON.stringify(definition.cron)} is not a cron expression (${(error as Error).message}); write five fields, e.g. "0 9 * * 1-5", or six with seconds first`,
    );
  }
  const catchUpValid =
    catchUp === 'skip' ||
    catchUp === 'latest' ||
    (typeof catchUp === 'object' && catchUp !== null && Number.isInteger(catchUp.all) && catchUp.all >= 1 && catchUp.all <= catchUpMaxLimit);
  if (!catchUpValid)
    problem(
      'catchUp',
      `${JSON.stringify(catchUp)} is not a catch-up policy; write "skip", "latest" or { "all": n } with n a whole number from 1 to ${catchUpMaxLimit}`,
    );
  if (!overlapPolicies.includes(overlap))
    problem('overlap', `${JSON.stringify(overlap)} is not an overlap policy; write one of ${overlapPolicies.map((policy) => `"${policy}"`).join(', ')}`);
  return { issues, timeZone: timeZone ?? requested };
}
