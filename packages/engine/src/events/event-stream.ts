import type { CairnEvent } from '@cairn/core';
import type { EngineEventsOptions } from '../engine-service.ts';
import type { EngineReads } from '../store/engine-reads.ts';
import { auditActionsOfEventTypes, eventOfEntry } from './event-of-entry.ts';

/** Entries an event stream reads at a time. */
const pageSize = 500;

/** Where an event stream reads the audit log, and how it learns that more was appended. */
export interface EventSource {
  readonly reads: Pick<EngineReads, 'auditSize' | 'auditPage' | 'runEntriesAfter'>;
  /**
   * Resolves at the first append readers can see after the call (a commit, on PostgreSQL), or when
   * `signal` aborts. A stream asks before it reads, so an append between its read and its wait is
   * not missed.
   */
  nextAppend(signal?: AbortSignal): Promise<void>;
  /** Resolves once `nextAppend` can hear of appends (a listening connection made); none needed when absent. */
  listening?(): Promise<unknown>;
  /** The sequence of the last entry of any of `actions` appended so far, when known without a read: a page that could find none is not read. */
  lastSeqOfAny?(actions: readonly string[]): number;
  /** Whether the source was closed (the stream then ends). */
  closed?(): boolean;
}

/**
 * The events of the audit log after `options.after` (an event id, which is the audit sequence; -1
 * for all), in order, as they happen: a client that reconnects with the last id it saw misses
 * nothing and sees nothing twice. Each subscriber reads at its own pace from the store, so a slow
 * one holds no buffer and never stalls the engine. Ends when `signal` aborts, or once caught up
 * when `follow` is false. The one stream both stores serve: `source` says how each reads and waits.
 */
export async function* eventStream(source: EventSource, options: EngineEventsOptions = {}): AsyncGenerator<CairnEvent> {
  const { reads } = source;
  const follow = options.follow !== false;
  const types = options.types === undefined ? undefined : new Set(options.types);
  const actions = types === undefined ? undefined : auditActionsOfEventTypes(types);
  let cursor = options.after ?? -1;
  if (follow) await source.listening?.();
  let appended: Promise<void> | undefined;
  while (!options.signal?.aborted && source.closed?.() !== true) {
    // Asked before the read (and kept until it resolves): an append after the read is not missed.
    if (follow) appended ??= source.nextAppend(options.signal);
    // With a filter, the log's end is read before the page: every entry up to it is considered by
    // a short page, so the next read starts there, not at the last entry kept (which would read
    // the skipped ones again after every append).
    const end = actions === undefined ? cursor : (await reads.auditSize()) - 1;
    // Nothing of the types asked for was appended since the last read (a run's state stream while
    // its items run): no read, as a short page would find nothing.
    const page =
      actions !== undefined && source.lastSeqOfAny !== undefined && source.lastSeqOfAny(actions) <= cursor
        ? []
        : options.runId === undefined
          ? await reads.auditPage(cursor + 1, pageSize, actions)
          : await reads.runEntriesAfter(options.runId, cursor, pageSize, actions);
    for (const entry of page) {
      cursor = entry.seq;
      const event = eventOfEntry(entry);
      if (event && (types === undefined || types.has(event.type))) yield event;
      if (options.signal?.aborted) return;
    }
    if (page.length === pageSize) continue;
    cursor = Math.max(cursor, end);
    if (!appended) return;
    await appended;
    appended = undefined;
  }
}
