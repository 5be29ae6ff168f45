import type { Digest, DispatchManifest, ExecutorV1, ManifestCandidate, StorageWait, TaskGateway } from '@cairn/core';
import type { LockWait } from '../records/attempt-records.ts';
import type { HeldLock } from '../store/sqlite/lock-table.ts';

/** An attempt ready to record: its manifest is signed and stored. */
export interface PreparedDispatch {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly executionId: string;
  readonly executor: ExecutorV1;
  readonly executorName: string;
  readonly locks: readonly HeldLock[];
  readonly manifestDigest: Digest;
  readonly timeoutMs: number;
  readonly queue: string | null;
  /** When the item became ready, for dispatch latency. */
  readonly readyAt: string | null;
  /** Storing its manifest waited for a storage outage to end: for its `attempt.dispatched` entry. */
  readonly storageWaits?: readonly StorageWait[];
  /** Its wait for locks before this dispatch, if it had one. */
  readonly lockWait: LockWait | null;
  /** A pure item's input digest, under which its success is recorded for reuse. */
  readonly inputDigest: string | null;
  /** Whether another item depends on it (only then may its quick end make one ready to guess at). */
  readonly hasDependents: boolean;
  /** Decrypted secret values, handed to the executor and then dropped; never stored. */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly secretVersions?: Readonly<Record<string, number>>;
  /** The model gateway and this attempt's credential, handed to the executor like secrets. */
  readonly gateway?: TaskGateway;
  /** The item's `runsOn.labels`, handed to the executor in the task. */
  readonly labels?: readonly string[];
  /** Its place in a best-of-N round (ADR 0053): a round is recorded whole, its first candidate starting the item. */
  readonly candidate?: ManifestCandidate;
}

/** An attempt whose manifest is drafted, not yet signed. */
export interface DraftedDispatch extends Omit<PreparedDispatch, 'manifestDigest'> {
  readonly manifest: DispatchManifest;
}
