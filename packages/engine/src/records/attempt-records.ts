import type { AttemptFailure, AttemptState } from '@cairn/core';

/** What an item's attempt came to, as readers (logs, status) see it. */
export interface ItemAttemptRecord {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly executionId: string;
  readonly state: AttemptState;
  /** The digest of its signed dispatch manifest (a DSSE envelope, stored by that digest). */
  readonly manifestDigest: string;
  /** The runtime's exit code, once ended; null when it was killed, never started or was lost. */
  readonly exitCode: number | null;
  /** What the attempt stored (kind → digest: patch, stdout, stderr, output), once it ended with a result. */
  readonly artifacts: Readonly<Record<string, string>> | null;
  readonly dispatchedAt: string;
  readonly finishedAt: string | null;
  /** Why it did not succeed, once it ended without success; null while live and when it succeeded. */
  readonly failure: AttemptFailure | null;
  /** Its wait for global locks before it was dispatched; null when it waited for none. */
  readonly lockWait: LockWait | null;
}

/**
 * A ready item's wait for global locks (`locks:`): when a dispatch pass first found a lock it
 * declares held by another item (or reserved by an older waiter), and which. It lasted until the
 * attempt's dispatch.
 */
export interface LockWait {
  readonly startedAt: string;
  readonly locks: readonly string[];
}
