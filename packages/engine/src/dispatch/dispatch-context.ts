import type { PureResults } from '../store/sqlite/pure-results.ts';
import type { AttemptStore } from '../store/sqlite/attempt-store.ts';
import type { DispatcherSettings } from './dispatcher-settings.ts';
import type { LockTable } from '../store/sqlite/lock-table.ts';
import type { RunStore } from '../store/sqlite/run-store.ts';
import type { GroupCommit } from '../store/group-commit.ts';

/**
 * What the dispatcher's parts (the pass, the reconciler, the drafter, the recorder) share: its
 * settings, with `now` and `commit` defaulted, and the working copy's tables it uses.
 */
export interface DispatchContext {
  readonly settings: DispatcherSettings;
  readonly now: () => number;
  readonly commit: GroupCommit;
  readonly runs: RunStore;
  readonly attempts: AttemptStore;
  readonly locks: LockTable;
  readonly pure: PureResults;
}
