import type { AttemptFailure, Digest, ItemState, RunState } from '@cairn/core';
import type { LockWait } from './attempt-records.ts';

/** A run as the engine stores it. */
export interface RunRecord {
  readonly runId: string;
  readonly name: string;
  readonly state: RunState;
  readonly specDigest: Digest;
  readonly idempotencyKey: string | null;
  readonly submittedBy: string;
  readonly submittedAt: string;
  readonly finishedAt: string | null;
  readonly itemsTotal: number;
  readonly itemsFinished: number;
  readonly itemsFailed: number;
  /** The actor (JSON) who asked to cancel the run; the run ends cancelled once nothing runs. */
  readonly cancelRequestedBy: string | null;
  /** Items of this run running at once, when the spec limits it. */
  readonly concurrency: number | null;
  /** Its dispatch priority, 1 (lowest) to 5 (highest): the spec's `priority` or `defaults.priority`, else 3. Its items inherit it. */
  readonly priority: number;
}

/**
 * What counting a finished item returns of its run (`RunStore.itemFinished`): its progress and
 * what ending it needs, not the whole row.
 */
export type RunProgress = Pick<RunRecord, 'runId' | 'state' | 'itemsTotal' | 'itemsFinished' | 'itemsFailed' | 'cancelRequestedBy'>;

/** An item as the engine stores it. `waitingOn` counts prerequisites not yet succeeded. */
export interface ItemRecord {
  readonly runId: string;
  readonly itemId: string;
  readonly position: number;
  readonly state: ItemState;
  readonly waitingOn: number;
  /** The item waits in `awaiting-approval` once its prerequisites succeed. */
  readonly approvalRequired: boolean;
  readonly readyAt: string | null;
  /** The actor (JSON) who cancelled the item while it ran; it ends cancelled once its task stops. */
  readonly cancelRequestedBy: string | null;
  /**
   * Why the item's latest attempt did not succeed, or why it could not be dispatched at all; null
   * while nothing failed and once an attempt succeeds. A retrying item shows its last failure.
   */
  readonly failure: AttemptFailure | null;
  /** While it is ready but held back by a global lock: since when and for which locks; null otherwise (its attempt keeps the wait once dispatched). */
  readonly lockWait: LockWait | null;
  /** Its dispatch priority, 1 (lowest) to 5 (highest): its own `priority`, else its run's. */
  readonly priority: number;
}
