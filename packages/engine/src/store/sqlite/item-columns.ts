/** The columns of an item's row as `ItemRow` names them, in every statement that reads one. */
export const itemColumns = `run_id AS runId, item_id AS itemId, position, state, waiting_on AS waitingOn, approval_required AS approvalRequired, ready_at AS readyAt,
  cancel_requested_by AS cancelRequestedBy, failure, lock_wait_started_at AS lockWaitStartedAt, lock_wait_locks AS lockWaitLocks, priority`;
