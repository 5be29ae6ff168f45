import type { AuditEntry } from '@cairn/core';
import { canonicalJson } from '@cairn/protocol';

/**
 * The canonical JSON of an audit entry that `auditEntryProblem` accepts — the very text
 * `canonicalJson(entry)` gives — written field by field. The log writes one per entry, and the
 * generic writer walks and sorts the whole entry where only `data` is free-form: its other fields
 * have fixed names, actions, kinds, channels and outcomes from fixed ASCII sets, whole numbers and
 * an ISO time. Only the free strings (ids) can hold what canonical JSON refuses (a lone
 * surrogate); for those the generic writer runs and reports it.
 */
export function auditEntryText(entry: AuditEntry): string {
  const { actor, entity, runId } = entry;
  if (!actor.id.isWellFormed() || !entity.id.isWellFormed() || (runId !== undefined && !runId.isWellFormed())) return canonicalJson(entry);
  const run = runId === undefined ? '' : `,"runId":${JSON.stringify(runId)},"runSeq":${JSON.stringify(entry.runSeq)}`;
  return (
    `{"action":${JSON.stringify(entry.action)},"actor":{"id":${JSON.stringify(actor.id)},"kind":${JSON.stringify(actor.kind)},"via":${JSON.stringify(actor.via)}},` +
    `"data":${canonicalJson(entry.data)},"entity":{"id":${JSON.stringify(entity.id)},"kind":${JSON.stringify(entity.kind)}},` +
    `"outcome":${JSON.stringify(entry.outcome)}${run},"seq":${JSON.stringify(entry.seq)},"time":${JSON.stringify(entry.time)}}`
  );
}
