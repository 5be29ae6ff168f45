/** A follow-up as the loop records it: which feedback, on which pull request, the run it started, and what its reply needs. */
export interface FollowUpRecord {
  /** The feedback's claim name (`review:ID`, `issue-comment:ID`, `check-run:ID`, …). */
  readonly feedbackId: string;
  readonly repository: string;
  readonly pullNumber: number;
  /** Milliseconds since 1970. */
  readonly requestedAt: number;
  /** Null until the run is submitted. */
  readonly runId: string | null;
  /** What the reply says it answered (JSON the loop writes and reads). */
  readonly detail: string;
}

/** Whether a follow-up may start, or the bound that stops it. */
export type FollowUpAdmission =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly bound: 'stopped'; readonly stoppedBy: string }
  | { readonly admitted: false; readonly bound: 'pull-request'; readonly count: number; readonly max: number }
  | { readonly admitted: false; readonly bound: 'hour'; readonly count: number; readonly max: number; readonly freeAt: number };

/** The caps `admit` holds a follow-up to. */
export interface FollowUpLimits {
  readonly perPullRequest: number;
  readonly perHour: number;
}

export const hourMs = 3_600_000;

/**
 * The review loop's records (ADR 0052): one row per follow-up and one per pull request whose loop
 * was stopped or resumed. Two kinds over the triggers' backends: `SqliteReviewLoopStore`
 * (`triggers.db`, one server) and `PostgresReviewLoopStore` (the engine's database, shared by the
 * replicas). `admit` counts and records in one step, so two replicas admitting follow-ups at once
 * cannot both take the last place under a cap.
 */
export abstract class ReviewLoopStore {
  /**
   * Records `followUp` when no bound stops it: the pull request's loop is not stopped, it has had
   * fewer than `limits.perPullRequest` follow-ups since it was last resumed, and the server fewer
   * than `limits.perHour` in the hour before `followUp.requestedAt`. Atomic across every store over
   * the same backend.
   */
  abstract admit(followUp: Omit<FollowUpRecord, 'runId'>, limits: FollowUpLimits): Promise<FollowUpAdmission>;

  /** Names the run a recorded follow-up started. */
  abstract started(feedbackId: string, runId: string): Promise<void>;

  /** Forgets a follow-up whose run could not be submitted (it counts against no bound). */
  abstract withdraw(feedbackId: string): Promise<void>;

  /** Stops the pull request's loop (`by` says who and how, for the comment a later follow-up gets). */
  abstract stop(repository: string, pullNumber: number, by: string): Promise<void>;

  /** Lifts a stop and counts the pull request's follow-ups afresh from `at`. */
  abstract resume(repository: string, pullNumber: number, at: number): Promise<void>;

  /** Who and how stopped the pull request's loop, or undefined while it runs. */
  abstract stoppedBy(repository: string, pullNumber: number): Promise<string | undefined>;

  /** The pull request's follow-ups since it was last resumed (all of them when never), oldest first: whose runs' spend counts against its cap. */
  abstract followUpsOf(repository: string, pullNumber: number): Promise<FollowUpRecord[]>;

  /** Follow-ups with a run and no reply yet, oldest first. */
  abstract unreplied(): Promise<FollowUpRecord[]>;

  /** Claims the reply to the follow-up that started `runId`: the record the first time, undefined after (or for another run). */
  abstract claimReply(runId: string, at: number): Promise<FollowUpRecord | undefined>;

  abstract close(): void;
}
