import { CairnError } from '@cairn/protocol';
import type { AuditQuery } from '../../records/audit-query.ts';

/** Checks a query's `from` and `to` (CAIRN_PAYLOAD_INVALID naming the field), whichever database will answer it. */
export function checkSeqBounds(query: Pick<AuditQuery, 'from' | 'to'>): void {
  for (const [name, value] of [
    ['from', query.from],
    ['to', query.to],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0))
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `${name} must be a sequence number (a whole number, 0 or more), not ${value}.`, { path: name });
  }
}

/** An ISO time a query bound names, normalised (stored times are `toISOString()` text); CAIRN_PAYLOAD_INVALID naming the field otherwise. */
export function instant(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time))
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `${name} must be an ISO 8601 time such as 2026-11-22T10:00:00Z, not ${JSON.stringify(value)}.`, {
      path: name,
    });
  return new Date(time).toISOString();
}
