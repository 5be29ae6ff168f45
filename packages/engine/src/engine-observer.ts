/**
 * Hooks the engine calls as things happen, for metrics (the server turns them into Prometheus
 * histograms and counters). Each is optional, called synchronously, and must not throw or block:
 * the engine does not wait for an observer.
 */
export interface EngineObserver {
  /** An attempt started: `waitMs` is how long its item waited from ready to the executor's start. */
  attemptStarted?(event: {
    readonly runId: string;
    readonly itemId: string;
    readonly executor: string;
    readonly queue: string | null;
    readonly waitMs: number;
  }): void;
  /** An attempt ended, with its outcome; `durationMs` is from its dispatch to its end. */
  attemptEnded?(event: {
    readonly runId: string;
    readonly itemId: string;
    readonly executor: string;
    readonly outcome: string;
    readonly durationMs: number;
    /** The warm environment it ran over (ADR 0056): `built` when this attempt ran the setup. */
    readonly environment?: { readonly built: boolean; readonly setupMs: number };
  }): void;
  /** An anchor refused or failed a checkpoint (it is retried later). */
  anchorFailed?(event: { readonly treeSize: number; readonly error: string }): void;
}
