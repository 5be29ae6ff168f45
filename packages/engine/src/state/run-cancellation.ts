import type { AuditActor } from '@cairn/core';
import { assertTransition, isTerminalState, itemTransitions, runTransitions } from '@cairn/protocol';
import { cancelReasonData, encodeCancelRequest, type CancelRequest } from './cancel-request.ts';
import type { RunProgress } from '../records/run-records.ts';
import type { RunLifecycle } from './run-lifecycle.ts';

/**
 * Cancelling a run or one item: what has not started ends at once, what runs is left to the
 * dispatcher to stop, and the cancel request (who asked, why) is kept for the entries that end
 * them. Part of `RunStateMachine`, which answers for it.
 */
export class RunCancellation {
  readonly #lifecycle: RunLifecycle;

  constructor(lifecycle: RunLifecycle) {
    this.#lifecycle = lifecycle;
  }

  /**
   * Cancels a run: items not started are cancelled now; running items are left to the dispatcher,
   * which stops them through their executor and records them cancelled. The run ends `cancelled`
   * (its terminal audit entry, naming `actor`) when its last item has ended — at once if nothing
   * was running. Cancelling a run that already ended is a CAIRN_LIFECYCLE_TRANSITION_INVALID.
   */
  cancelRun(runId: string, actor: AuditActor, reason?: string): void {
    const lifecycle = this.#lifecycle;
    lifecycle.inTransaction(() => {
      const run = lifecycle.requireRun(runId);
      assertTransition(runTransitions, run.state, 'cancelled', `run ${runId}`);
      const request: CancelRequest = reason === undefined ? { actor } : { actor, reason };
      lifecycle.store.requestCancel(runId, encodeCancelRequest(request));
      let updated: RunProgress = lifecycle.requireRun(runId);
      for (const item of lifecycle.store.items(runId)) {
        if (item.state === 'running' || isTerminalState(itemTransitions, item.state)) continue;
        lifecycle.move(item, 'cancelled', actor, cancelReasonData(request));
        updated = lifecycle.store.itemFinished(runId, false);
      }
      if (updated.itemsFinished === updated.itemsTotal) lifecycle.finishRun(updated);
    })();
  }

  /**
   * Cancels one item: one that has not started is cancelled now (its dependents skipped); a
   * running one is stopped through its executor by the dispatcher and ends cancelled, naming
   * `actor`, once its task has stopped. Cancelling an item that already ended is a
   * CAIRN_LIFECYCLE_TRANSITION_INVALID.
   */
  cancelItem(runId: string, itemId: string, actor: AuditActor, reason?: string): void {
    const lifecycle = this.#lifecycle;
    lifecycle.inTransaction(() => {
      const item = lifecycle.requireItem(runId, itemId);
      assertTransition(itemTransitions, item.state, 'cancelled', `item ${itemId} of run ${runId}`);
      const request: CancelRequest = reason === undefined ? { actor } : { actor, reason };
      if (item.state === 'running') {
        lifecycle.store.requestItemCancel(runId, itemId, encodeCancelRequest(request));
        lifecycle.attempts.requestStopForItem(runId, itemId);
        return;
      }
      lifecycle.move(item, 'cancelled', actor, cancelReasonData(request));
      lifecycle.endedEarly(runId, itemId, true);
    })();
  }
}
