import { priorityLevels } from '@cairn/protocol';

/** How `RunStore` orders ready items (see `dispatchOrderOf`). */
export interface DispatchOrderSettings {
  /** An item waiting this long rises one priority level (`priorityAgingSeconds`, in ms). */
  readonly priorityAgingMs: number;
}

/** The engine's default `priorityAgingSeconds`: 5 minutes a level, so a priority-1 item waits at most 20 minutes behind fresh priority-5 ones. */
export const defaultPriorityAgingSeconds = 300;

/**
 * Where a ready item stands in the dispatch order (`items.dispatch_order`, smaller first): its
 * ready time in ms, moved earlier by one aging interval per level above the default priority (later
 * per level below). Ordering by it is ordering by effective priority, the item's priority plus one
 * level per aging interval it has waited, highest first: A's effective priority at time t is
 * p(A) + (t - ready(A)) / aging, so A is above B exactly when ready(A) - p(A) × aging is below
 * ready(B) - p(B) × aging, whatever t is. The key is fixed when the item becomes ready, so one
 * index serves the order, and equal priorities keep FIFO order by ready time.
 */
export function dispatchOrderOf(readyAtMs: number, priority: number, priorityAgingMs: number): number {
  return readyAtMs - (priority - priorityLevels.default) * priorityAgingMs;
}

/** `dispatchOrderOf` in SQL, from the row's own priority and the bound `@readyAtMs` and `@agingMs`. */
export const dispatchOrderSql = `@readyAtMs - (priority - ${priorityLevels.default}) * @agingMs`;
