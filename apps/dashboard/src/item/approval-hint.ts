import type { ItemSummary } from '../api/run-summary.ts';

/**
 * What an item's approval gate says beside its state: `needs approval` until it is decided, then
 * `approved` or `rejected` — never `needs approval` beside `succeeded`. An item that ran was
 * approved (nothing runs past the gate otherwise); one that ended without running was rejected
 * when its failure says so, else (cancelled, skipped) the gate was never decided. Null without a gate.
 */
export function approvalHint(item: Pick<ItemSummary, 'state' | 'approvalRequired' | 'failure'> | null | undefined): string | null {
  if (!item?.approvalRequired) return null;
  switch (item.state) {
    case 'blocked':
    case 'awaiting-approval':
      return 'needs approval';
    case 'ready':
    case 'running':
    case 'succeeded':
      return 'approved';
    default:
      if (item.failure?.code === 'CAIRN_APPROVAL_REJECTED') return 'rejected';
      return item.failure === null || item.failure === undefined ? 'approval not decided' : 'approved';
  }
}
