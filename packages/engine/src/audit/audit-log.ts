import type { AuditEntry } from '@cairn/core';
import { auditEntryProblem, auditEntryText, leafHashOfText, MerkleLog } from '@cairn/audit';
import { CairnError } from '@cairn/protocol';
import type { AuditEntryTable } from '../store/sqlite/audit-entry-table.ts';
import type { AuditQuery } from '../records/audit-query.ts';
import type { AuditQueryReader } from '../store/sqlite/audit-query.ts';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';
import type { EngineAuditLog } from './engine-audit-log.ts';
import { isoTime } from '../iso-time.ts';

/** An entry as the engine writes it: the log assigns `seq` and `runSeq`, and `time` by default. */
export type AuditEntryDraft = Omit<AuditEntry, 'seq' | 'runSeq' | 'time'> & { readonly time?: string };

export interface AuditLogSettings {
  /** Clock for entries without a time; `Date.now` by default (tests inject one). */
  readonly now?: () => number;
}

/**
 * The global audit log in the working copy: every entry a row of its audit entries and a leaf of
 * the Merkle tree over its nodes, both written by the caller's transaction (or one of its own), so
 * a state change and its entries commit or roll back together. Inside a transaction the rows wait
 * in memory for the end of its body and are written then, many a statement; every read here
 * writes them first.
 */
export class AuditLog implements EngineAuditLog {
  readonly merkle: MerkleLog;
  readonly #workingCopy: WorkingCopy;
  readonly #entries: AuditEntryTable;
  readonly #now: () => number;
  /**
   * The next runSeq of runs this log wrote to, so an append need not ask the database. Trusted
   * only while the log is exactly as long as this process's last append left it: a rolled-back
   * transaction (or another writer) changes the length, and the cache is dropped.
   */
  readonly #runSeqs = new Map<string, number>();
  #sizeAfterLastWrite = -1;
  /** The seq of this instance's first append: of the entries before it, the actions are not known here. */
  #firstAppendedSeq: number | undefined;
  /**
   * The last seq this instance appended of each action, so that an event stream of some types can
   * tell, without a query, that nothing of theirs was appended since it last read. An entry rolled
   * back may stay counted: a seq too high only costs a query that finds nothing.
   */
  readonly #lastSeqOfAction = new Map<string, number>();
  /** Who waits for the next append (event streams that caught up). */
  readonly #appendWaiters = new Set<() => void>();
  #notifying = false;
  readonly #appendOne: (draft: AuditEntryDraft) => AuditEntry;
  readonly #query: AuditQueryReader;

  constructor(workingCopy: WorkingCopy, settings: AuditLogSettings = {}) {
    this.#workingCopy = workingCopy;
    this.#entries = workingCopy.auditEntries;
    this.merkle = MerkleLog.open(workingCopy.merkleNodes);
    this.#now = settings.now ?? Date.now;
    this.#appendOne = workingCopy.transaction((draft: AuditEntryDraft) => this.#write(draft));
    this.#query = workingCopy.auditQueries;
  }

  /** Entries in the log. */
  get size(): number {
    return this.merkle.size;
  }

  /**
   * Appends one entry, numbering it (`seq`, and `runSeq` within its run) and hashing it into the
   * tree. Inside the caller's transaction when there is one — then a failure must abort that
   * transaction (or a savepoint around this call), never be caught and carried on from. Throws
   * CAIRN_PAYLOAD_INVALID for an entry that is not a valid audit entry (nothing is written).
   */
  append(draft: AuditEntryDraft): AuditEntry {
    // Inside the caller's transaction no savepoint is needed: a failure aborts that transaction.
    return this.#workingCopy.transacting ? this.#write(draft) : this.#appendOne(draft);
  }

  /**
   * A seq at or after the last entry of any of `actions` in the log (-1: there is none): of what
   * this instance appended, the last; of the entries before its first append (loaded, or written
   * by an earlier process), the last of them all.
   */
  lastSeqOfAny(actions: readonly string[]): number {
    if (this.#firstAppendedSeq === undefined) return this.size - 1;
    let last = this.#firstAppendedSeq - 1;
    for (const action of actions) last = Math.max(last, this.#lastSeqOfAction.get(action) ?? -1);
    return last;
  }

  /** Entries from `seq` on, in order, `pageSize` at a time (for exports and event streams). */
  *entries(fromSeq = 0, pageSize = 1000): Generator<AuditEntry> {
    for (let next = fromSeq; ;) {
      const page = this.page(next, pageSize);
      yield* page;
      if (page.length < pageSize) return;
      next += page.length;
    }
  }

  /**
   * The entries `query` keeps (a seq range, a run, an action, an actor, a time range), in order, a
   * page at a time, up to the log's size now. Throws CAIRN_PAYLOAD_INVALID at once for a bad field.
   */
  query(query: AuditQuery = {}): Generator<AuditEntry> {
    this.#workingCopy.flushDeferredWrites();
    return this.#query.entries(query, this.size);
  }

  /** At most `limit` entries from `seq` on, in order; only those of `actions` when given. */
  page(fromSeq: number, limit: number, actions?: readonly string[]): AuditEntry[] {
    this.#workingCopy.flushDeferredWrites();
    return this.#entries.page(fromSeq, limit, actions);
  }

  /** A run's entries after global position `afterSeq`, in order, at most `limit`; only those of `actions` when given. */
  runEntriesAfter(runId: string, afterSeq: number, limit: number, actions?: readonly string[]): AuditEntry[] {
    this.#workingCopy.flushDeferredWrites();
    return this.#entries.runEntriesAfter(runId, afterSeq, limit, actions);
  }

  /**
   * Resolves after the next append has committed (or when `signal` aborts). Waiters are told on a
   * microtask: the synchronous transaction that appended has ended by then, so what they read is
   * there (or, if it rolled back, they find nothing and wait again).
   */
  nextAppend(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        this.#appendWaiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#appendWaiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** A run's entries in runSeq order. */
  runEntries(runId: string): AuditEntry[] {
    this.#workingCopy.flushDeferredWrites();
    return this.#entries.runEntries(runId);
  }

  #write(draft: AuditEntryDraft): AuditEntry {
    const { time, runId, actor, entity } = draft;
    const seq = this.merkle.size;
    if (seq !== this.#sizeAfterLastWrite || this.#runSeqs.size > 10_000) this.#runSeqs.clear();
    let runSeq = runId === undefined ? undefined : this.#runSeqs.get(runId);
    if (runId !== undefined && runSeq === undefined) {
      this.#workingCopy.flushDeferredWrites();
      runSeq = this.#entries.nextRunSeq(runId);
    }
    const actorOf = { id: actor.id, kind: actor.kind, via: actor.via };
    const entityOf = { id: entity.id, kind: entity.kind };
    const at = time ?? isoTime(this.#now());
    // Two literals rather than a spread of the run's fields: the spread costs more than the rest
    // of the object, once an entry. Members in the same order either way.
    const entry: AuditEntry =
      runId === undefined
        ? { action: draft.action, actor: actorOf, data: draft.data, entity: entityOf, outcome: draft.outcome, seq, time: at }
        : { action: draft.action, actor: actorOf, data: draft.data, entity: entityOf, outcome: draft.outcome, runId, runSeq: runSeq!, seq, time: at };
    const problem = auditEntryProblem(entry);
    if (problem !== undefined)
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `The audit entry is not valid: entry${problem}.`, { path: `entry${problem.split(':')[0]}` });
    // Its canonical JSON written field by field: only `data` goes through the generic writer.
    const body = auditEntryText(entry);
    // The leaf first: the tree's size is read from the rows when it is not known in memory, so an
    // entry's row never stands in the table before its leaf is counted (SqliteMerkleNodeStore).
    this.merkle.appendLeafHash(leafHashOfText(body));
    this.#entries.add(entry, body);
    this.#firstAppendedSeq ??= seq;
    this.#lastSeqOfAction.set(entry.action, seq);
    if (runId !== undefined) this.#runSeqs.set(runId, runSeq! + 1);
    this.#sizeAfterLastWrite = seq + 1;
    if (this.#appendWaiters.size > 0 && !this.#notifying) {
      this.#notifying = true;
      queueMicrotask(() => {
        this.#notifying = false;
        for (const waiter of [...this.#appendWaiters]) waiter();
      });
    }
    return entry;
  }
}
