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
    `{"action":${quoted(entry.action)},"actor":{"id":${JSON.stringify(actor.id)},"kind":${quoted(actor.kind)},"via":${quoted(actor.via)}},` +
    `"data":${canonicalJson(entry.data)},"entity":{"id":${JSON.stringify(entity.id)},"kind":${quoted(entity.kind)}},` +
    `"outcome":${quoted(entry.outcome)}${run},"seq":${JSON.stringify(entry.seq)},"time":${JSON.stringify(entry.time)}}`
  );
}

/**
 * A JSON string of a member from a small fixed set (an action, a kind, a channel, an outcome),
 * written once and then looked up: five of them an entry cost about a quarter of its text, and
 * the engine writes about five entries an item. Any other string is written as it comes; the
 * cache stops growing at its bound.
 */
function quoted(text: string): string {
  let json = quotedTexts.get(text);
  if (json === undefined) {
    json = JSON.stringify(text);
    if (quotedTexts.size < maxQuotedTexts) quotedTexts.set(text, json);
  }
  return json;
}

const quotedTexts = new Map<string, string>();
/** Far above the fixed sets' sizes together (about a hundred), so only a stray value misses. */
const maxQuotedTexts = 1_000;
