/** One output stream of an attempt. */
export type LogStream = 'stdout' | 'stderr';

/** How far one stream of a live log has been written. */
export interface LiveLogStreamProgress {
  /** Bytes stored so far in the stream's segments: redacted, and at most the attempt's `limits.maxLogBytes`. */
  readonly bytes: number;
  /** True once the runtime wrote more than the cap: the rest is dropped (the stored log says how much). */
  readonly truncated: boolean;
}

/**
 * The progress of a running attempt's live log, written by the worker at
 * `live-logs/<executionId>/state.json` after the segments it counts (ADR 0015). The segments of a
 * stream (`live-logs/<executionId>/<stream>/<index>`, each `liveLogSegmentBytes` long but the last)
 * hold exactly the first `bytes` bytes of what the attempt's stored log will hold, so a reader
 * can go on in the stored log where the live one ends. Removed once the result record is written.
 */
export interface LiveLogState {
  readonly version: 'cairn.live-log/v1';
  readonly executionId: string;
  readonly stdout: LiveLogStreamProgress;
  readonly stderr: LiveLogStreamProgress;
  /** When the worker last wrote it. */
  readonly updatedAt: string;
}
