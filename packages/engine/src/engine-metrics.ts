import type { StateCounts } from './records/state-counts.ts';

/** What `/metrics` exposes of an engine: counts by state, queue depth, live attempts, and how far anchoring trails. */
export type EngineMetrics = StateCounts & {
  /** Entries in the audit log. */
  readonly auditEntries: number;
  /** Audit entries no anchored checkpoint covers yet. */
  readonly unanchoredEntries: number;
  /** Checkpoints issued and not yet anchored. */
  readonly pendingCheckpoints: number;
};
