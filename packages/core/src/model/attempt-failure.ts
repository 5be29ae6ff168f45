/**
 * Why an attempt did not succeed, in a form every surface can show as it is (`cairn status`, the
 * HTTP items, the client, MCP, the report): a catalogue code, a message that says what happened
 * and what to do, how the runtime ended, the safety rule that refused its result when one did, and
 * the end of its stderr. Written by the worker into its result record, or by the engine for what
 * happens outside the worker (a lost task, a rejected result, a dispatch it refused). Redacted: no
 * secret value is ever in it.
 */
export interface AttemptFailure {
  /** A CairnError code from the catalogue (`CAIRN_EXIT_NONZERO`, `CAIRN_ATTEMPT_TIMED_OUT`, ...). */
  readonly code: string;
  /** What happened, where, and what to do; secret values replaced by `[redacted:NAME]`. */
  readonly message: string;
  /** The runtime's exit code; null when it was killed by a signal or never ran. */
  readonly exitCode: number | null;
  /** The signal that ended the runtime (`SIGKILL`), null when it exited by itself or never ran. */
  readonly signal: string | null;
  /**
   * The safety rule that refused the attempt's change or output (`symlink-escape`, `git-metadata`,
   * `setuid`, `size`, `secret`, ...), when one did.
   */
  readonly rule?: string;
  /** The last 2 KiB (or so, whole characters) of the runtime's stderr, redacted; empty when it wrote none. */
  readonly stderrTail: string;
  /** Where a merge conflicted (CAIRN_MERGE_CONFLICT): what a merge with `onConflict: rerun` re-runs. */
  readonly mergeConflict?: MergeConflictPoint;
}

/** The producer whose patch a merge could not merge, and what it had merged before it. */
export interface MergeConflictPoint {
  /** The entry of the merge's `runtime.from` whose patch conflicted. */
  readonly from: string;
  /** Its position in `runtime.from`. */
  readonly position: number;
  /** The entries of `runtime.from` merged before it, in order (those that changed nothing left out). */
  readonly merged: readonly string[];
}

/** What the audit log and events carry of a failure: small, and never a message or an output. */
export type AttemptFailureSummary = Pick<AttemptFailure, 'code' | 'rule'>;
