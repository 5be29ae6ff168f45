// A run's items and their attempts as the server reports them.
import type { AttemptFailure, AttemptState, ItemState } from '@cairn/core';

/** An item's approval (ADR 0041): its policy, who voted, and how many approvals it still waits for (0 once it no longer waits). */
export interface ItemApprovalView {
  readonly required: number;
  /** The roles or groups an approver needs one of; absent when anyone allowed to approve counts. */
  readonly from?: readonly string[];
  readonly selfApproval: boolean;
  readonly timeout?: string;
  readonly onTimeout: 'reject' | 'approve';
  /** The votes cast under a policy, first to last (`approval: required` records none). */
  readonly votes: readonly {
    readonly actor: string;
    /** Whom the vote counts for: one vote per principal (absent from servers older than this field). */
    readonly principal?: string;
    readonly decision: 'approve' | 'reject';
    readonly at: string;
    readonly reason?: string;
  }[];
  /** Approvals dropped while it waits because their principal's access was revoked or expired after they voted: each with why. */
  readonly lapsed?: readonly { readonly principal: string; readonly votedAt: string; readonly message: string }[];
  readonly approvals: number;
  readonly needed: number;
}

/** An item as the server reports it. */
export interface ItemView {
  readonly itemId: string;
  readonly state: ItemState;
  /**
   * Why its latest attempt failed (code, message, exit code, signal, refusal rule, the end of its
   * stderr, redacted), or why it could not be dispatched; null while nothing failed and once it
   * succeeded. Absent from servers older than this field.
   */
  readonly failure?: AttemptFailure | null;
  /** When it waits or waited for approval: its policy, the votes so far and how many approvals it still needs. */
  readonly approval?: ItemApprovalView;
  /** Its dispatch priority, 1 (lowest) to 5 (highest): its own, else its run's. Absent from servers older than this field. */
  readonly priority?: number;
  /** `items(runId)` only, once a deliver item succeeded: what it delivered. */
  readonly delivery?: ItemDeliveryView;
  /** `items(runId)` only, for a best-of-N item once it ran: its candidates side by side with their checks, and the winner (ADR 0053). */
  readonly candidates?: ItemCandidatesView;
  /** `items(runId)` only, for an item with a warm environment once an attempt ended: the environment that attempt ran over (ADR 0056). */
  readonly environment?: AttemptEnvironmentView & { readonly attempt: number };
  readonly [field: string]: unknown;
}

/**
 * The warm environment an attempt ran over (ADR 0056): its digest, whether the attempt built it or
 * reused a layer built before, the setup's time, and the digests of its log and (behind an
 * allow-list) egress record, which `blob(digest)` reads.
 */
export interface AttemptEnvironmentView {
  readonly digest: string;
  readonly built: boolean;
  readonly setupMs: number;
  readonly log: string;
  readonly egress?: string;
}

/**
 * A best-of-N item's candidates (ADR 0053): how the winner is chosen, each candidate that ended
 * (its round, attempt, outcome, whether it passed, its check's exit code and score, its patch's
 * size), and the winner's attempt with why it won (null until a round has one).
 */
export interface ItemCandidatesView {
  readonly count: number;
  readonly order: 'score' | 'smallest-diff' | 'first';
  readonly stopOnFirstPass: boolean;
  readonly checked: readonly {
    readonly candidate: number;
    readonly attempt: number;
    readonly round: number;
    readonly outcome: string;
    readonly passed: boolean;
    readonly exitCode: number | null;
    readonly score: number | null;
    readonly patchBytes: number;
  }[];
  readonly winner: number | null;
  readonly reason: string | null;
  /** Who chose the winner (ADR 0053): its judge or the order; null until a round has one. Absent from servers without judges. */
  readonly decidedBy?: 'judge' | 'order' | null;
  /** The judge of the last judged round: the attempt it chose and why, or why its answer was refused (the order then decided). */
  readonly judge?: { readonly attempt: number | null; readonly reason: string | null; readonly refused: string | null } | null;
}

/**
 * What a deliver item delivered: the forge, the item whose patch it was, the branch and its base,
 * the commit the branch points at, whether this delivery pushed it (`pushed`) or found it there
 * (`unchanged`), the change request it opened or updated, and the digest of the patch's stored
 * provenance bundle (`blob(digest)`; the commit's `Cairn-Evidence` trailer); the paths of the
 * patch its forge protects (its CI configuration) when it touched any, and the run whose branch it
 * took over (`runtime.takeOver`) when it did.
 */
export interface ItemDeliveryView {
  readonly forge: string;
  readonly from: string;
  readonly branch: string;
  readonly base: string;
  readonly commit: string;
  readonly outcome: 'pushed' | 'unchanged';
  readonly changeRequest?: { readonly id: string; readonly url: string };
  readonly provenance: { readonly digest: string };
  readonly protectedPaths?: readonly string[];
  readonly tookOverFrom?: string;
}

/** One attempt of an item as the server reports it. */
export interface AttemptView {
  readonly itemId: string;
  /** Its number: 1 for the first. */
  readonly attempt: number;
  readonly state: AttemptState;
  /** The digest of its signed dispatch manifest (a DSSE envelope); `blob(manifestDigest)` reads its exact bytes. */
  readonly manifestDigest: string;
  /** The runtime's exit code once it ended; null when it was killed, never started or was lost. */
  readonly exitCode: number | null;
  readonly dispatchedAt: string;
  readonly finishedAt: string | null;
  /** Why it did not succeed, once it ended without success; null while live and when it succeeded. */
  readonly failure: AttemptFailure | null;
  /** Over a warm environment, once it ended with a result: which one, built or reused (ADR 0056). */
  readonly environment?: AttemptEnvironmentView;
  readonly [field: string]: unknown;
}
