import type { AuditAction, AuditEntityKind, AuditEntry, AuditOutcome } from '@cairn/core';

/** Which entries an export keeps. Every field narrows; an absent field keeps everything. */
export interface LogExportFilter {
  readonly actions?: readonly AuditAction[];
  readonly entityKinds?: readonly AuditEntityKind[];
  readonly outcomes?: readonly AuditOutcome[];
  /** Actor ids (a user name, a token id, `engine`). */
  readonly actors?: readonly string[];
  readonly runId?: string;
  /** ISO time, inclusive. */
  readonly since?: string;
  /** ISO time, exclusive. */
  readonly until?: string;
}

/** Whether `entry` passes `filter`. Times compare as instants, so any ISO precision works. */
export function matchesLogFilter(entry: AuditEntry, filter: LogExportFilter): boolean {
  if (filter.actions && !filter.actions.includes(entry.action)) return false;
  if (filter.entityKinds && !filter.entityKinds.includes(entry.entity.kind)) return false;
  if (filter.outcomes && !filter.outcomes.includes(entry.outcome)) return false;
  if (filter.actors && !filter.actors.includes(entry.actor.id)) return false;
  if (filter.runId !== undefined && entry.runId !== filter.runId) return false;
  const time = Date.parse(entry.time);
  if (filter.since !== undefined && time < Date.parse(filter.since)) return false;
  if (filter.until !== undefined && time >= Date.parse(filter.until)) return false;
  return true;
}
