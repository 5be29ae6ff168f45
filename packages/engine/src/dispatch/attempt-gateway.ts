import type { ItemSpec, TaskGateway } from '@cairn/core';

/** The attempt a gateway credential is issued for. */
export interface GatewayAttempt {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly executionId: string;
  /** The item's effective spec (defaults applied): its runtime names the adapter and model. */
  readonly spec: ItemSpec;
  /** How long the attempt may run: a credential need not outlive it by much. */
  readonly timeoutMs: number;
}

/**
 * Issues the model gateway's URL and a credential to an agent attempt as it is started (ADR 0033).
 * The host (the server) implements it; the engine hands its answer to the executor out of band,
 * like secrets: never in the manifest, the log or the database. A credential is issued anew each
 * time a task is started, a restart's included, so none needs to be kept.
 */
export interface AttemptGatewayIssuer {
  /** The gateway and a credential for this attempt, or undefined when it makes no model calls through one. */
  issue(attempt: GatewayAttempt): TaskGateway | undefined;
}
