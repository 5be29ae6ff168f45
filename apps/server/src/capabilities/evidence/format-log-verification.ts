import type { AuditLogVerification, CheckpointVerification } from '@cairn/audit';

/**
 * `cairn audit verify-log` for people: the verdict, what was checked (counts that never include a
 * checkpoint the check did not finish), one line per checkpoint with its result and reason, then
 * the first failure. `anchors` names the anchors read; `undefined` when offline (none were read).
 */
export function formatLogVerification(result: AuditLogVerification, anchors: readonly string[] | undefined): string[] {
  const total = result.checkpoints.length;
  const lines = [
    `valid: ${result.valid}`,
    `entries checked: ${result.entriesChecked} (${result.uncoveredEntries} after the last checkpoint, not yet under a signed root)`,
    `checkpoints: ${result.checkpointsChecked} verified, ${result.checkpointsFailed} failed, ${result.checkpointsNotChecked} not checked, of ${total}${result.coveredSize > 0 ? ` (the last one checked at tree size ${result.coveredSize})` : ''}`,
    `anchors read: ${result.anchorsRead}${anchors === undefined ? ' (offline: add --online to read them)' : ` (${anchors.join(', ')})`}`,
    ...result.checkpoints.map((checkpoint) => `  ${checkpointLine(checkpoint, anchors !== undefined)}`),
  ];
  const { failure } = result;
  if (failure) {
    const seq = failure.seq === undefined ? '' : ` at seq ${failure.seq}`;
    const treeSize = failure.treeSize === undefined ? '' : ` (checkpoint at tree size ${failure.treeSize})`;
    lines.push(`first failure${seq}${treeSize}: ${failure.detail}`);
  }
  return lines;
}

function checkpointLine(checkpoint: CheckpointVerification, online: boolean): string {
  const name = checkpoint.treeSize === undefined ? 'checkpoint (unreadable)' : `checkpoint at tree size ${checkpoint.treeSize}`;
  if (checkpoint.result === 'failed') return `${name}: failed: ${checkpoint.detail}`;
  if (checkpoint.result === 'not-checked') return `${name}: not checked: ${checkpoint.detail}`;
  // Say which checkpoints no anchor vouched for, so "verified" is never read as "anchored".
  if (!online) return `${name}: verified`;
  if (!checkpoint.anchored) return `${name}: verified (not anchored yet: no anchor read)`;
  return `${name}: verified (held by ${checkpoint.anchorsRead} anchor${checkpoint.anchorsRead === 1 ? '' : 's'})`;
}
