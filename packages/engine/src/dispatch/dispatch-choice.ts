import type { ItemSpec, ManifestInput } from '@cairn/core';
import type { ItemRecord } from '../records/run-records.ts';
import type { RunStore } from '../store/sqlite/run-store.ts';
import type { DispatchRefusal } from '../dispatch-refusal.ts';
import type { HeldLock } from '../store/sqlite/lock-table.ts';

/** An item's stored dispatch facts (see `RunStore.dispatchFacts`). */
export type StoredItem = NonNullable<ReturnType<RunStore['dispatchFacts']>>;

/** A ready item a pass chose, with what its dispatch needs (its inputs, or why one is missing). */
export interface DispatchChoice {
  readonly item: ItemRecord;
  readonly locks: HeldLock[];
  readonly stored: StoredItem;
  readonly spec: ItemSpec;
  readonly inputs: Record<string, ManifestInput> | DispatchRefusal;
}
