import type { AuditActor, ItemState, JsonObject } from '@cairn/core';
import type { AuditLog } from '../audit/audit-log.ts';
import type { ItemRecord } from '../records/run-records.ts';

/** The audit action of entering each item state (running is audited by its attempt, later). */
const itemActions: Partial<
  Record<ItemState, 'item.blocked' | 'item.ready' | 'item.approval-requested' | 'item.succeeded' | 'item.failed' | 'item.skipped' | 'item.cancelled'>
> = {
  // Items start blocked unaudited (their run's submission or growth says so); a merge that waits
  // for a producer's re-run is blocked again, and says so.
  blocked: 'item.blocked',
  ready: 'item.ready',
  'awaiting-approval': 'item.approval-requested',
  succeeded: 'item.succeeded',
  failed: 'item.failed',
  skipped: 'item.skipped',
  cancelled: 'item.cancelled',
};

/** Appends the audit entry of `item` entering state `to` (none for running: its attempt is audited). */
export function auditItemEntered(audit: AuditLog, item: Pick<ItemRecord, 'runId' | 'itemId'>, to: ItemState, actor: AuditActor, data: JsonObject): void {
  const action = itemActions[to];
  if (action)
    audit.append({
      actor,
      action,
      entity: { kind: 'item', id: `${item.runId}/${item.itemId}` },
      outcome: to === 'failed' ? 'failure' : 'success',
      runId: item.runId,
      data,
    });
}
