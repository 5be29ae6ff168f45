import type { AttemptFailure } from './attempt-failure.ts';
import type { Digest } from './digest.ts';
import type { ExecutionOutcome } from './execution.ts';

/** The artifacts of one attempt, each stored by digest. */
export interface ResultArtifacts {
  /** `git diff --binary` against the baseline; absent when the workspace did not change. */
  readonly patch?: Digest;
  readonly stdout: Digest;
  readonly stderr: Digest;
  /** `output.json` written by the runtime, when it wrote one. */
  readonly output?: Digest;
}

/** Size of a patch, for review lists. */
export interface PatchStats {
  readonly filesChanged: number;
  readonly bytes: number;
}

/**
 * What a worker reports for one attempt, written to storage as canonical JSON at
 * `results/<executionId>.json`. The engine accepts it only with the attempt's current fencing
 * token and the digest of the manifest it ran.
 */
export interface ResultRecord {
  readonly version: 'cairn.result/v1';
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly fencingToken: number;
  readonly executionId: string;
  readonly manifestDigest: Digest;
  readonly outcome: ExecutionOutcome;
  /** The runtime's exit code; null when it was killed by a signal or never started. */
  readonly exitCode: number | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly artifacts: ResultArtifacts;
  readonly patchStats?: PatchStats;
  /** Why the attempt did not succeed, whenever it did not (failed, timed out, cancelled). */
  readonly failure?: AttemptFailure;
}
