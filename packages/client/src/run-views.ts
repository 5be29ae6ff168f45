// Runs as the server reports them: a run, a page of the run history and its filters, a template.
import type { AttemptFailure, BudgetSpec, ModelCallSpend, RunState } from '@cairn/core';

/** A run as the server reports it. */
export interface RunView {
  readonly runId: string;
  readonly name: string;
  readonly state: RunState;
  readonly specDigest: string;
  /** The Idempotency-Key it was submitted with, if any. */
  readonly idempotencyKey: string | null;
  /** The id of the actor who submitted it (a token, a person, a schedule). */
  readonly submittedBy: string;
  readonly submittedAt: string;
  readonly finishedAt: string | null;
  readonly itemsTotal: number;
  readonly itemsFinished: number;
  readonly itemsFailed: number;
  /** `runs()` only: how many of its items succeeded, and how many of those reused a pure result. */
  readonly itemsSucceeded?: number;
  readonly itemsReused?: number;
  /** Its dispatch priority, 1 (lowest) to 5 (highest), which its items inherit. Absent from servers older than this field. */
  readonly priority?: number;
  /** From `run(runId)` when items failed: each failed item with why it failed. */
  readonly failedItems?: readonly { readonly itemId: string; readonly failure: AttemptFailure | null }[];
  /** From `run(runId)` when its agents called models through the gateway: what the run and each item spent. */
  readonly spend?: { readonly total: ModelSpendView; readonly items: Readonly<Record<string, ModelSpendView>> };
  /** `run(runId)` only, when the run has one: its budget now (the last it was raised to, else its spec's). */
  readonly budget?: BudgetSpec;
  /**
   * `run(runId)` only, when its workspace was fetched from a repository at submit: the repository
   * and ref its spec named, the commit the ref named then (what its items ran on) and the snapshot stored.
   */
  readonly workspace?: { readonly repository: string; readonly ref: string; readonly commit: string; readonly snapshot: string };
  readonly [field: string]: unknown;
}

/** What model calls spent, as the server's model gateway metered them (its `model.called` entries). */
export type ModelSpendView = ModelCallSpend;

/** One page of the run history, newest first; `nextCursor` is there when more may follow. */
export interface RunPageView {
  readonly runs: readonly RunView[];
  readonly nextCursor?: string;
}

/** Which runs a run list keeps; every filter narrows, an absent one keeps everything. */
export interface RunListFilters {
  readonly state?: RunState;
  /** Exactly this run name. */
  readonly name?: string;
  /** Runs submitted by this actor id (as a run's `submittedBy` shows it). */
  readonly submitter?: string;
  /** Submitted at or after this RFC 3339 time (inclusive). */
  readonly submittedAfter?: string;
  /** Submitted before this RFC 3339 time (exclusive). */
  readonly submittedBefore?: string;
}

/** A run template of the server's config: a run spec with `{{ name }}` placeholders, and its parameters (all strings). */
export interface RunTemplateView {
  readonly name: string;
  readonly description?: string;
  readonly parameters: readonly { readonly name: string; readonly required: boolean; readonly default?: string; readonly description?: string }[];
}
