import type { AttemptFailure, ItemSpec, ItemState } from '@cairn/core';
import type { ItemRecord } from '../../records/run-records.ts';
import { prerequisitesOf } from '../../state/run-submission.ts';
import type { GraphItemRecord } from '../engine-reads.ts';
import type { ItemAttemptRecord, LockWait } from '../../records/attempt-records.ts';

/**
 * An item as both stores return its row (SQLite and PostgreSQL select the same names): booleans as
 * 0 or 1, JSON as text, the lock wait in its two columns.
 */
export type ItemRow = Omit<ItemRecord, 'approvalRequired' | 'failure' | 'lockWait'> & {
  approvalRequired: number;
  failure: string | null;
  lockWaitStartedAt: string | null;
  lockWaitLocks: string | null;
};

/** An attempt as both stores return its row for an item's history (`ItemAttemptRecord`). */
export type ItemAttemptRow = Omit<ItemAttemptRecord, 'artifacts' | 'failure' | 'lockWait'> & {
  artifacts: string | null;
  failure: string | null;
  lockWaitStartedAt: string | null;
  lockWaitLocks: string | null;
};

/** A lock wait from its two stored columns (the names as a JSON array); null when there was none. */
export function lockWaitOf(startedAt: string | null, locks: string | null): LockWait | null {
  return startedAt === null ? null : { startedAt, locks: locks === null ? [] : (JSON.parse(locks) as string[]) };
}

/** The record of an item's row. A wait is shown while the item is ready; once it is dispatched, its attempt keeps it. */
export function itemOfRow({ lockWaitStartedAt, lockWaitLocks, ...row }: ItemRow): ItemRecord {
  return {
    ...row,
    approvalRequired: row.approvalRequired === 1,
    failure: row.failure === null ? null : (JSON.parse(row.failure) as AttemptFailure),
    lockWait: row.state === 'ready' ? lockWaitOf(lockWaitStartedAt, lockWaitLocks) : null,
  };
}

/** The record of an attempt's row, for an item's history. */
export function itemAttemptOfRow({ lockWaitStartedAt, lockWaitLocks, ...row }: ItemAttemptRow): ItemAttemptRecord {
  return {
    ...row,
    artifacts: row.artifacts === null ? null : (JSON.parse(row.artifacts) as Record<string, string>),
    failure: row.failure === null ? null : (JSON.parse(row.failure) as AttemptFailure),
    lockWait: lockWaitOf(lockWaitStartedAt, lockWaitLocks),
  };
}

/** An item as both stores return it for a graph of its run (`GraphItemRecord`): its spec and its dependents as JSON text. */
export interface GraphItemRow {
  readonly itemId: string;
  readonly position: number;
  readonly state: ItemState;
  readonly spec: string;
  /** A JSON array, in no particular order. */
  readonly dependents: string;
}

/** The record of an item's graph row: its dependents in code-unit order, whichever store read them. */
export function graphItemOfRow(row: GraphItemRow): GraphItemRecord {
  const spec = JSON.parse(row.spec) as ItemSpec;
  return { ...row, spec, prerequisites: prerequisitesOf(spec), dependents: (JSON.parse(row.dependents) as string[]).sort() };
}
