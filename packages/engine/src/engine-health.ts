/**
 * Whether the engine can do its work now (what a readiness probe reports). Not ready while the
 * disk under its database is full: dispatch is paused and writes are retried with backoff until
 * one succeeds; nothing already committed is lost, and decisions not yet written (task exits an
 * executor pushed) stay queued until they are.
 */
export interface EngineHealth {
  readonly ready: boolean;
  /** Why it is not ready (`storage full: SQLITE_FULL: database or disk is full`). */
  readonly reason?: string;
  /** Since when it has been in this state (ISO 8601). */
  readonly since: string;
}
