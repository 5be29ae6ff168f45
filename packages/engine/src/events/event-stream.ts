import type { CairnEvent } from '@cairn/core';
import type { AuditLog } from '../audit/audit-log.ts';
import type { EngineEventsOptions } from '../engine-service.ts';
import { auditActionsOfEventTypes, eventOfEntry } from './event-of-entry.ts';

/**
 * The events of `audit` after `after` (an event id, which is the audit sequence; -1 for all), in
 * order, as they happen: a client that reconnects with the last id it saw misses nothing and sees
 * nothing twice. Each subscriber reads at its own pace from the database, so a slow one holds no
 * buffer and never stalls the engine. Ends when `signal` aborts, or once caught up when `follow` is
 * false.
 */
export async function* eventStream(audit: AuditLog, options: EngineEventsOptions = {}): AsyncGenerator<CairnEvent> {
  const pageSize = 500;
  const types = options.types === undefined ? undefined : new Set(options.types);
  const actions = types === undefined ? undefined : auditActionsOfEventTypes(types);
  let cursor = options.after ?? -1;
  while (!options.signal?.aborted) {
    // With a filter, the entries up to the log's end now are all considered by a short page: the
    // next read starts there, not at the last entry kept (which would read the skipped ones again).
    const end = audit.size - 1;
    // Nothing of the types asked for was appended since the last read (a run's state stream
    // while its items run): no query, as a short page would find nothing.
    const page =
      actions !== undefined && audit.lastSeqOfAny(actions) <= cursor
        ? []
        : options.runId === undefined
          ? audit.page(cursor + 1, pageSize, actions)
          : audit.runEntriesAfter(options.runId, cursor, pageSize, actions);
    // Registered before any await: an append after the read above cannot be missed.
    const appended = page.length < pageSize && options.follow !== false ? audit.nextAppend(options.signal) : undefined;
    for (const entry of page) {
      cursor = entry.seq;
      const event = eventOfEntry(entry);
      if (event && (types === undefined || types.has(event.type))) yield event;
      if (options.signal?.aborted) return;
    }
    if (page.length === pageSize) continue;
    if (actions !== undefined) cursor = Math.max(cursor, end);
    if (!appended) return;
    await appended;
  }
}
