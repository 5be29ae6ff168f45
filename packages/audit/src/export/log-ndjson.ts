import type { AuditEntry } from '@cairn/core';
import { CairnError, canonicalJson } from '@cairn/protocol';
import { auditEntryProblem } from '../entries/audit-entry-problem.ts';
import { matchesLogFilter, type LogExportFilter } from './log-export-filter.ts';

/**
 * The audit log as NDJSON, one canonical JSON line per kept entry: `{"entry":{...},"leafIndex":n}`.
 * Lazy, so a large log streams; the leaf index lets anyone check a line against an inclusion
 * proof. Entries are expected in log order (the leaf index is the entry's `seq`).
 */
export function* exportLogNdjson(entries: Iterable<AuditEntry>, filter: LogExportFilter = {}): Generator<string> {
  for (const entry of entries) {
    if (matchesLogFilter(entry, filter)) yield `${canonicalJson({ entry, leafIndex: entry.seq })}\n`;
  }
}

/**
 * Reads an NDJSON export back, checking every line: canonical JSON, a valid entry, and a leaf
 * index equal to its seq. Throws CAIRN_PAYLOAD_INVALID naming the line.
 */
export function readLogNdjson(text: string): AuditEntry[] {
  const entries: AuditEntry[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    let value: { entry?: unknown; leafIndex?: unknown };
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `${where} of the log export is not JSON.`, { path: where, cause: error });
    }
    const problem = auditEntryProblem(value?.entry);
    if (problem !== undefined) throw new CairnError('CAIRN_PAYLOAD_INVALID', `${where}: entry${problem}.`, { path: where });
    const entry = value.entry as AuditEntry;
    if (value.leafIndex !== entry.seq || canonicalJson(value) !== line) {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `${where} is not as exported: its leafIndex must equal the entry's seq, in canonical JSON.`, {
        path: where,
      });
    }
    entries.push(entry);
  });
  return entries;
}
