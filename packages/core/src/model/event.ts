import type { AttemptFailureSummary } from './attempt-failure.ts';
import type { ItemState, RunState, AttemptState } from './lifecycle.ts';

interface EventBase {
  /** Increasing per server; resumable streams restart after it (`Last-Event-ID`). */
  readonly id: number;
  readonly time: string;
  readonly runId: string;
}

/** A run changed state. */
export interface RunStateEvent extends EventBase {
  readonly type: 'run.state';
  readonly state: RunState;
}

/** An item changed state. */
export interface ItemStateEvent extends EventBase {
  readonly type: 'item.state';
  readonly itemId: string;
  readonly state: ItemState;
  /** Why, when the item failed: the code and rule of its failure (the message is on the item). */
  readonly failure?: AttemptFailureSummary;
}

/** An attempt changed state. */
export interface AttemptStateEvent extends EventBase {
  readonly type: 'attempt.state';
  readonly itemId: string;
  readonly attempt: number;
  readonly state: AttemptState;
  /** Why, when the attempt ended without success: the code and rule of its failure (the message is on the attempt). */
  readonly failure?: AttemptFailureSummary;
}

/** What subscribers (SSE, webhooks, dashboards) are told. Carries no secrets and no payloads. */
export type CairnEvent = RunStateEvent | ItemStateEvent | AttemptStateEvent;

/** The `type` of every event. */
export type CairnEventType = CairnEvent['type'];
