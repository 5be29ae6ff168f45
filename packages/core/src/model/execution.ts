import type { Digest } from './digest.ts';
import type { JsonValue } from './json.ts';
import type { ResultRecord } from './result-record.ts';

/**
 * What the engine hands an executor to start one attempt. Everything the task needs is in the
 * signed dispatch manifest, fetched by digest from storage; secrets travel only in `secrets`,
 * out of band, and never enter the manifest, the audit log or any log line.
 */
export interface TaskEnvelope {
  /**
   * Unique per attempt and chosen by the engine (`<runId>/<itemId>/<attempt>`): the idempotency
   * key of `start`. Starting the same id twice must not start a second task.
   */
  readonly executionId: string;
  /** Digest of the DSSE-enveloped dispatch manifest in storage (`manifests/<digest>`). */
  readonly manifestDigest: Digest;
  /** Secret environment variables for the runtime (name → value). Never logged. */
  readonly secrets?: Readonly<Record<string, string>>;
  /**
   * The model gateway an agent attempt reaches its models through (ADR 0033): its URL and this
   * attempt's short-lived credential, valid only there, only for this attempt and its models.
   * Out of band like `secrets`, and never logged.
   */
  readonly gateway?: TaskGateway;
  /**
   * The labels the item asks of the host that runs it (its `runsOn.labels`): an executor that
   * routes by labels (`capabilities.labels`) starts it only where all of them are. Absent when
   * the item asks none.
   */
  readonly labels?: readonly string[];
  /**
   * The W3C trace context of the attempt's span, when the host traces its runs: the worker gives
   * it to the runtime as `TRACEPARENT` (and `TRACESTATE`), so a program that emits spans (an agent
   * CLI) joins the run's trace. Ids only, never a secret. An executor that cannot carry it to its
   * worker drops it: the attempt runs the same, its own spans in a trace of their own.
   */
  readonly traceContext?: TaskTraceContext;
}

/** A W3C Trace Context (https://www.w3.org/TR/trace-context/), as its two headers' values. */
export interface TaskTraceContext {
  /** `00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags: 2 hex>`. */
  readonly traceparent: string;
  /** Vendor entries (`key=value,...`); absent when there are none. */
  readonly tracestate?: string;
}

/** Where an attempt's model calls go, and the credential they carry. */
export interface TaskGateway {
  /** The gateway's root URL (`http://127.0.0.1:7411`): `/anthropic` and `/openai/v1` are under it. */
  readonly url: string;
  readonly credential: string;
}

/**
 * An executor's reference to a started task. Persisted by the engine as JSON and handed back to
 * `inspect`/`cancel` — possibly by a new process after a restart — so it must hold everything
 * needed to find the task again (a pid and start time, an ECS task ARN): no in-memory state.
 * Executor-specific fields sit beside `executor` and `executionId`, and must be JSON.
 */
export interface ExecutionHandle {
  /** The `provider` of the executor that issued it; another executor refuses it. */
  readonly executor: string;
  readonly executionId: string;
  readonly [field: string]: JsonValue;
}

/** Where a task is, as its executor sees it. `unknown`: the executor no longer knows the task. */
export type ExecutionState = 'pending' | 'running' | 'exited' | 'unknown';

/** How an exited task ended. `timed-out` tasks were killed at their wall-clock limit. */
export type ExecutionOutcome = 'succeeded' | 'failed' | 'cancelled' | 'timed-out';

/** The answer of `ExecutorV1.inspect`. `outcome` (and usually `exitCode`) are set once `exited`. */
export interface ExecutionStatus {
  readonly state: ExecutionState;
  readonly outcome?: ExecutionOutcome;
  readonly exitCode?: number;
  /** Where the worker wrote its result record, once exited (`results/<executionId>.json`). */
  readonly resultKey?: string;
  /**
   * The result record itself, when the executor has it at hand once exited (it read it from
   * storage to answer, or its worker handed it over): only a record already stored at the
   * execution's result key, as stored. The engine then takes it instead of reading the key again,
   * and checks it as it checks one it reads; one that is not valid or names another execution is
   * ignored, and the key read. `null`: the executor knows the key holds no object and that none
   * will be written there (it read the key and found none after the task was gone, its worker
   * failed before writing, or it runs no worker at all); the engine then reads nothing, as if it
   * had found none. Absent, the engine reads the key.
   */
  readonly result?: ResultRecord | null;
  /** A short human explanation (why it failed, why it is unknown). */
  readonly reason?: string;
}
