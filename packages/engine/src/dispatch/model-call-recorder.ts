import type { AuditEntry, Digest } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AttemptStore } from '../store/sqlite/attempt-store.ts';

/** The attempt a gateway credential names, while it is live. */
export interface LiveAttempt {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly executionId: string;
}

/**
 * One model call as the gateway measured it (ADR 0033). Usage and cost are absent when unknown:
 * the provider did not report usage, or the price table has no price for the model.
 */
export interface ModelCall {
  readonly executionId: string;
  /** `success`: the provider answered 2xx; `failure`: it did not, or the stream broke; `denied`: the gateway refused it. */
  readonly outcome: 'success' | 'failure' | 'denied';
  readonly provider: 'anthropic' | 'openai';
  readonly api: 'anthropic-messages' | 'openai-chat' | 'openai-responses';
  readonly model: string;
  readonly stream: boolean;
  /** The HTTP status the client got. */
  readonly status: number;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly cacheReadTokens?: number;
  readonly cacheWriteTokens?: number;
  readonly costUsd?: number;
  readonly latencyMs: number;
  readonly firstTokenMs?: number;
  readonly quotaWaitMs?: number;
  /** Digest of the request body as the agent sent it (stored as a blob). */
  readonly request: Digest;
  /** Digest of the response body as the agent got it (stored as a blob); absent when there was none. */
  readonly response?: Digest;
  /** Why it was denied or failed, or why its usage or cost is unknown. */
  readonly reason?: string;
}

/** Who the `model.called` entries are by: the gateway, for the attempt its credential names. */
const gatewayActor = { kind: 'system', id: 'gateway', via: 'http' } as const;

/**
 * Writes the `model.called` entries of the model gateway into their runs' entries, and answers
 * whether an attempt is live: a call is recorded only for an attempt that is, so that its entries
 * come between its dispatch and its end (the bundle's order), and a credential stops working the
 * moment its attempt ends.
 */
export class ModelCallRecorder {
  readonly #attempts: AttemptStore;
  readonly #audit: AuditLog;

  constructor(settings: { readonly attempts: AttemptStore; readonly audit: AuditLog }) {
    this.#attempts = settings.attempts;
    this.#audit = settings.audit;
  }

  /** The attempt, while it runs (dispatched, not yet ended); undefined otherwise. */
  liveAttempt(executionId: string): LiveAttempt | undefined {
    const attempt = this.#attempts.byExecutionId(executionId);
    if (attempt === undefined || attempt.finishedAt !== null) return undefined;
    return { runId: attempt.runId, itemId: attempt.itemId, attempt: attempt.attempt, executionId };
  }

  /** Appends the call's `model.called` entry; CAIRN_MODEL_NOT_ALLOWED when its attempt is not live. */
  record(call: ModelCall): AuditEntry {
    const live = this.liveAttempt(call.executionId);
    if (live === undefined)
      throw new CairnError(
        'CAIRN_MODEL_NOT_ALLOWED',
        `Attempt ${JSON.stringify(call.executionId)} is not running, so no model call can be recorded for it: its credential ended with it.`,
        { path: 'executionId' },
      );
    // Members in code-unit order, as canonical JSON writes them.
    const data = {
      api: call.api,
      attempt: live.attempt,
      ...(call.cacheReadTokens === undefined ? {} : { cacheReadTokens: call.cacheReadTokens }),
      ...(call.cacheWriteTokens === undefined ? {} : { cacheWriteTokens: call.cacheWriteTokens }),
      ...(call.costUsd === undefined ? {} : { costUsd: call.costUsd }),
      ...(call.firstTokenMs === undefined ? {} : { firstTokenMs: call.firstTokenMs }),
      ...(call.inputTokens === undefined ? {} : { inputTokens: call.inputTokens }),
      itemId: live.itemId,
      latencyMs: call.latencyMs,
      model: call.model,
      ...(call.outputTokens === undefined ? {} : { outputTokens: call.outputTokens }),
      provider: call.provider,
      ...(call.quotaWaitMs === undefined ? {} : { quotaWaitMs: call.quotaWaitMs }),
      ...(call.reason === undefined ? {} : { reason: call.reason }),
      request: call.request,
      ...(call.response === undefined ? {} : { response: call.response }),
      status: call.status,
      stream: call.stream,
    };
    return this.#audit.append({
      actor: gatewayActor,
      action: 'model.called',
      entity: { kind: 'attempt', id: live.executionId },
      outcome: call.outcome,
      runId: live.runId,
      data,
    });
  }
}
