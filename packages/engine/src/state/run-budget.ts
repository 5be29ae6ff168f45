import type { AuditActor, BudgetSpec, JsonObject } from '@cairn/core';
import { CairnError, isTerminalState, runTransitions } from '@cairn/protocol';
import { engineActor } from '../engine-actor.ts';
import { isoTime } from '../iso-time.ts';
import type { RunLifecycle } from './run-lifecycle.ts';

/**
 * A run's model budget (ADR 0033): the wait of a run whose spend reached it (`awaiting-budget`),
 * and the raise that ends the wait. Part of `RunStateMachine`, which answers for it.
 */
export class RunBudget {
  readonly #lifecycle: RunLifecycle;

  constructor(lifecycle: RunLifecycle) {
    this.#lifecycle = lifecycle;
  }

  /**
   * The run's model spend reached its budget (the gateway saw it, ADR 0033): a running run waits in
   * `awaiting-budget`, starting no agent items, until its budget is raised or it is cancelled. True
   * when it moved; false for a run already waiting, or one not running (nothing to hold).
   */
  awaitBudget(runId: string, data: JsonObject): boolean {
    const lifecycle = this.#lifecycle;
    return lifecycle.inTransaction(() => {
      const run = lifecycle.requireRun(runId);
      if (run.state !== 'running' || run.cancelRequestedBy !== null) return false;
      lifecycle.store.setRunState(runId, 'awaiting-budget');
      lifecycle.audit.append({ actor: engineActor, action: 'run.budget-exhausted', entity: { kind: 'run', id: runId }, outcome: 'success', runId, data });
      return true;
    })();
  }

  /**
   * An actor gives a run a new budget (`budget`, with the reason they gave): a run awaiting one
   * runs again. Whether it is more than the run has spent is the caller's to check (the spend is the
   * gateway's); a run that already ended is a CAIRN_LIFECYCLE_TRANSITION_INVALID.
   */
  raiseBudget(runId: string, budget: BudgetSpec, actor: AuditActor, reason: string): void {
    const lifecycle = this.#lifecycle;
    lifecycle.inTransaction(() => {
      const run = lifecycle.requireRun(runId);
      if (isTerminalState(runTransitions, run.state))
        throw new CairnError('CAIRN_LIFECYCLE_TRANSITION_INVALID', `Run ${runId} has ended (${run.state}): its budget can no longer be raised.`, {
          details: { runId, state: run.state },
        });
      const state = run.state === 'awaiting-budget' ? 'running' : run.state;
      if (state !== run.state) {
        lifecycle.store.setRunState(runId, state);
        // The agent items dispatch passes set aside meanwhile are ready again.
        lifecycle.store.unparkReady(runId, isoTime(lifecycle.now()));
      }
      lifecycle.audit.append({
        actor,
        action: 'run.budget-raised',
        entity: { kind: 'run', id: runId },
        outcome: 'success',
        runId,
        data: { budget: { ...budget }, reason, state },
      });
    })();
  }
}
