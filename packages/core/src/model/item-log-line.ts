import type { AttemptFailure } from './attempt-failure.ts';
import type { AttemptState } from './lifecycle.ts';
import type { LogStream } from './live-log.ts';

/** How an attempt ended: the last line of its log. */
export interface ItemLogEnd {
  readonly attempt: number;
  readonly state: AttemptState;
  /** The runtime's exit code; null when it was killed by a signal, never started or was lost. */
  readonly exitCode: number | null;
  readonly finishedAt: string | null;
  /** Why the attempt did not succeed (absent when it did). */
  readonly failure?: AttemptFailure;
}

/**
 * One line of an item's log as the server sends it (`GET /v1/runs/{runId}/items/{itemId}/logs`):
 * a piece of one stream's output (redacted by the worker), or, last, how the attempt ended. A
 * `notice` is the server's word about the stream (it reached its cap), not bytes of it: a reader
 * that resumes at a byte offset does not count it.
 */
export type ItemLogLine = { readonly stream: LogStream; readonly text: string; readonly notice?: true } | { readonly end: ItemLogEnd };
