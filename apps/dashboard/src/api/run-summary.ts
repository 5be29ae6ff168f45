import type { AttemptFailure, BudgetSpec, ItemState, RunState } from '@cairn/core';
import type { ModelSpend } from '../spend-text.ts';

/** A run as `GET /v1/runs` and `GET /v1/runs/:runId` answer it (the fields the dashboard reads). */
export interface RunSummary {
  readonly runId: string;
  readonly name: string;
  readonly state: RunState;
  readonly submittedAt: string;
  readonly submittedBy?: string;
  readonly finishedAt: string | null;
  readonly itemsTotal: number;
  readonly itemsFinished: number;
  readonly itemsFailed: number;
  /** `GET /v1/runs/:runId` only, when its agents called models through the gateway. */
  readonly spend?: { readonly total: ModelSpend; readonly items: Readonly<Record<string, ModelSpend>> };
  /** `GET /v1/runs/:runId` only, when the run has one: its budget now. */
  readonly budget?: BudgetSpec;
}

/** An item as `GET /v1/runs/:runId/items` answers it. */
export interface ItemSummary {
  readonly itemId: string;
  readonly state: ItemState;
  readonly approvalRequired: boolean;
  readonly failure: AttemptFailure | null;
  /** When it became ready to run (the start of its queue wait); other fields of the record pass through. */
  readonly readyAt?: string | null;
  /** While it is ready but held back by a global lock: since when and for which locks. */
  readonly lockWait?: { readonly startedAt: string; readonly locks: readonly string[] } | null;
  readonly [field: string]: unknown;
}
