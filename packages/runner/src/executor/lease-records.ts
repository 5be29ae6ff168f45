import type { Digest, ExecutionStatus, TaskEnvelope } from '@cairn/core';
import type { RunnerPollAnswer } from '@cairn/protocol';

/** Who calls `poll` and `reportExits`: the runner its token names. */
export interface RunnerIdentity {
  readonly name: string;
}

/** A runner as the book last saw it (`cairn runners`, metrics). */
export interface RunnerSummary {
  readonly name: string;
  readonly version: string;
  readonly labels: readonly string[];
  /** Free slots it offered in its last poll, less the leases that poll took. */
  readonly slots: number;
  /** Leases it holds now. */
  readonly held: number;
  readonly lastSeen: string;
  /** `connected`: it is waiting in a poll, or polled within the lease time; `lost`: it has not (its leases lapsed). */
  readonly state: 'connected' | 'lost';
  /** An operator drained it (`drain`): it is given no new leases until `undrain`. */
  readonly draining: boolean;
}

/**
 * One execution in the book. `queued`: started, no runner took it yet. `held`: a runner holds it
 * and heartbeats it by listing it. `exited`: its runner reported how it ended (or it was cancelled
 * before a runner took it). `lapsed`: its runner stopped listing it; revoked, and lost to the engine.
 */
export interface Lease {
  readonly executionId: string;
  /** The envelope `start` was given; absent for a lease adopted after a restart (a handle carries no secrets). */
  task?: TaskEnvelope;
  manifestDigest?: Digest;
  labels: readonly string[];
  state: 'queued' | 'held' | 'exited' | 'lapsed';
  runner?: string;
  heartbeatAt: number;
  cancelRequested: boolean;
  status?: ExecutionStatus;
  endedAt?: number;
}

export interface RunnerRecord {
  readonly name: string;
  version: string;
  labels: ReadonlySet<string>;
  slots: number;
  lastSeen: number;
  readonly held: Set<Lease>;
  waiting?: Waiter;
  draining: boolean;
}

export interface Waiter {
  readonly runner: RunnerRecord;
  readonly slots: number;
  readonly finish: (answer: RunnerPollAnswer) => void;
}
