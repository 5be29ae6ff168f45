import type { AttemptFailureSummary, AttemptState, AuditEntry, CairnEvent, ItemState, JsonValue, RunState } from '@cairn/core';

const runStates: Partial<Record<string, RunState>> = {
  'run.submitted': 'queued',
  'run.started': 'running',
  'run.budget-exhausted': 'awaiting-budget',
  'run.succeeded': 'succeeded',
  'run.failed': 'failed',
  'run.cancelled': 'cancelled',
};

// `item.approved`, `item.rejected` and `item.reused` are followed by the entry of the state they
// lead to; an item starts running with its attempt's dispatch, in the same transaction. A vote
// under an approval policy that leaves the item waiting says it still awaits approval, so that a
// page showing who approved reads the item again.
const itemStates: Partial<Record<string, ItemState>> = {
  'item.blocked': 'blocked',
  'item.ready': 'ready',
  'item.approval-requested': 'awaiting-approval',
  'item.approval-voted': 'awaiting-approval',
  'attempt.dispatched': 'running',
  'item.succeeded': 'succeeded',
  'item.failed': 'failed',
  'item.skipped': 'skipped',
  'item.cancelled': 'cancelled',
};

const attemptOutcomes = new Set<string>(['succeeded', 'failed', 'timed-out', 'cancelled', 'lost']);

/**
 * The audit actions whose entries can become an event of each type (what `eventOfEntry` reads).
 * `model.called` is none: a model call changes no state, an agent makes hundreds, and its figures
 * are read from the audit log (`GET /v1/audit?action=model.called`), not pushed to subscribers.
 */
const actionsOfEventType: Record<CairnEvent['type'], readonly string[]> = {
  'run.state': [...Object.keys(runStates), 'run.budget-raised'],
  'item.state': Object.keys(itemStates),
  'attempt.state': ['attempt.started', 'attempt.lost', 'attempt.completed'],
};

/**
 * The audit actions of the entries that can become events of `types`: a stream that wants only
 * some types reads only those entries from the database (a run's `run.state` stream reads its
 * handful of run entries, not the five of every item). A superset is harmless (`eventOfEntry`
 * still decides); a missing action would lose events, so the maps above are the one source.
 */
export function auditActionsOfEventTypes(types: Iterable<CairnEvent['type']>): string[] {
  return [...new Set([...types].flatMap((type) => actionsOfEventType[type]))];
}

/**
 * The event a subscriber is told about an audit entry, if any: one event per state change, its id
 * the entry's `seq`, so a stream resumes after the last id it saw without gaps or duplicates.
 * Entries that change no run, item or attempt state (checkpoints, secrets, approvals themselves)
 * tell subscribers nothing. Events carry states (and a failure's code and rule) only, never
 * payloads, messages or secrets.
 */
export function eventOfEntry(entry: AuditEntry): CairnEvent | undefined {
  const { seq: id, time, runId, action, data } = entry;
  if (runId === undefined) return undefined;
  const runState = runStates[action];
  if (runState) return { type: 'run.state', id, time, runId, state: runState };
  // A raise names the run's state after it: running again when it awaited the raise, else unchanged.
  if (action === 'run.budget-raised' && typeof data['state'] === 'string') return { type: 'run.state', id, time, runId, state: data['state'] as RunState };
  const itemId = entry.entity.kind === 'item' ? entry.entity.id.slice(runId.length + 1) : typeof data['itemId'] === 'string' ? data['itemId'] : undefined;
  const itemState = itemStates[action];
  if (itemState && itemId !== undefined) return { type: 'item.state', id, time, runId, itemId, state: itemState, ...failureOf(data['failure']) };
  if (entry.entity.kind !== 'attempt' || itemId === undefined || typeof data['attempt'] !== 'number') return undefined;
  const attempt = data['attempt'];
  if (action === 'attempt.started') return { type: 'attempt.state', id, time, runId, itemId, attempt, state: 'running' };
  if (action === 'attempt.lost') return { type: 'attempt.state', id, time, runId, itemId, attempt, state: 'lost', ...failureOf(data['failure']) };
  if (action === 'attempt.completed' && typeof data['outcome'] === 'string' && attemptOutcomes.has(data['outcome'])) {
    return { type: 'attempt.state', id, time, runId, itemId, attempt, state: data['outcome'] as AttemptState, ...failureOf(data['failure']) };
  }
  return undefined;
}

/** The failure summary an entry carries (entries written before failures were audited carry none). */
function failureOf(value: JsonValue | undefined): { failure?: AttemptFailureSummary } {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof value['code'] !== 'string') return {};
  return { failure: { code: value['code'], ...(typeof value['rule'] === 'string' ? { rule: value['rule'] } : {}) } };
}
