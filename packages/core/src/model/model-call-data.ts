import type { Digest } from './digest.ts';

/** Who answered a model call the gateway proxied. */
export type ModelProvider = 'anthropic' | 'openai';

/** The wire API the call spoke: Anthropic Messages, OpenAI Chat Completions or OpenAI Responses. */
export type ModelApi = 'anthropic-messages' | 'openai-chat' | 'openai-responses';

/**
 * The `data` of a `model.called` audit entry: one model call an attempt made through the server's
 * model gateway (entity `{kind: 'attempt', id: <executionId>}`, `runId` set). The outcome is
 * `success` when the provider answered 2xx, `failure` on a provider error or a broken stream, and
 * `denied` when the gateway refused the call itself (budget, quota wait exceeded, model not allowed).
 *
 * The request and response bodies are stored as content-addressed blobs (`blobs/<hex>`), named
 * here by digest, so a bundle can carry them as artifacts. A refused call's request body is stored
 * whole only up to a small bound (the reference gateway's: 64 KiB); past it, `request` names a
 * stored stand-in (`{notStored, bytes, digest}`) and `reason` gives the real body's size and digest. Usage and cost are the gateway's own
 * figures: an absent member means unknown (the provider reported no usage, or the model has no
 * price), never zero, and `reason` then says why. The writer gives the members in code-unit order
 * (as listed here), the order canonical JSON writes them.
 */
export interface ModelCallData {
  readonly api: ModelApi;
  readonly attempt: number;
  /** Tokens read from the provider's prompt cache; absent when unknown. */
  readonly cacheReadTokens?: number;
  /** Tokens written to the provider's prompt cache; absent when unknown. */
  readonly cacheWriteTokens?: number;
  /** What the call cost in US dollars by the gateway's price table; absent when the price or the usage is unknown. */
  readonly costUsd?: number;
  /** Milliseconds from the request to the first streamed token, for a stream that produced one. */
  readonly firstTokenMs?: number;
  /** Input tokens; absent when unknown. */
  readonly inputTokens?: number;
  readonly itemId: string;
  /** Milliseconds from the request to the end of the answer (or of the refusal). */
  readonly latencyMs: number;
  /** The model the call asked for, as the agent named it. */
  readonly model: string;
  /** Output tokens; absent when unknown. */
  readonly outputTokens?: number;
  readonly provider: ModelProvider;
  /** Milliseconds the call waited for quota before it was sent (or refused). */
  readonly quotaWaitMs?: number;
  /** Why the call was denied or failed, or why its usage or cost is unknown. */
  readonly reason?: string;
  /** Digest of the request body as the agent sent it. */
  readonly request: Digest;
  /** Digest of the response body as the client received it (a stream: its bytes in order); absent when there was none. */
  readonly response?: Digest;
  /** The HTTP status the client got (the gateway's own for a refusal). */
  readonly status: number;
  readonly stream: boolean;
}

/**
 * What a run's `model.called` entries say it spent: the gateway's own figures, summed. They are
 * proven (by the entries' inclusion under a signed checkpoint) to be what was logged, not what a
 * provider billed. Sums cover the calls that reported each figure; a denied call was never sent,
 * so it counts as neither known nor unknown usage.
 */
export interface ModelCallSpend {
  /** Well-formed `model.called` entries. */
  readonly calls: number;
  /** Of those: answered 2xx (`success`), failed at the provider or mid-stream (`failure`), refused by the gateway (`denied`). */
  readonly succeeded: number;
  readonly failed: number;
  readonly denied: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly costUsd: number;
  /** Calls sent (not denied) without `inputTokens` or `outputTokens`. */
  readonly unknownUsage: number;
  /** Calls sent (not denied) without `costUsd`. */
  readonly unknownCost: number;
}
