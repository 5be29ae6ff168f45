/**
 * The closed vocabularies of Cairn's lifecycles. `@cairn/protocol` holds the transition tables
 * (`runTransitions`, ...) and refuses any move they do not list.
 */

/**
 * A run: `queued → running → succeeded | failed | cancelled`. A running run whose model spend
 * reached its budget is `awaiting-budget` until someone raises the budget (back to `running`) or
 * cancels it; meanwhile it starts no agent items, and it still ends when its last item does.
 */
export type RunState = 'queued' | 'running' | 'awaiting-budget' | 'succeeded' | 'failed' | 'cancelled';

/**
 * A work item: `blocked → ready → running → succeeded | failed | skipped | cancelled`, with
 * `awaiting-approval` between `blocked` and `ready` for items with `approval: required`.
 * A failed item's dependents become `skipped`. A running item whose attempt fails but has
 * attempts left goes back to `ready` (after its backoff).
 */
export type ItemState = 'blocked' | 'awaiting-approval' | 'ready' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

/**
 * One execution of an item. Each attempt carries a fencing token; only the item's current attempt
 * may complete it, so a late result of a superseded attempt is recorded and ignored.
 * `lost` means the executor no longer knows the task (or it stopped heartbeating).
 */
export type AttemptState = 'dispatching' | 'running' | 'succeeded' | 'failed' | 'timed-out' | 'cancelled' | 'lost';

/** States after which nothing changes. */
export type TerminalRunState = Extract<RunState, 'succeeded' | 'failed' | 'cancelled'>;
export type TerminalItemState = Extract<ItemState, 'succeeded' | 'failed' | 'skipped' | 'cancelled'>;
export type TerminalAttemptState = Exclude<AttemptState, 'dispatching' | 'running'>;
