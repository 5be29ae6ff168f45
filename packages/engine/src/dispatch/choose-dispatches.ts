import type { HeldLock } from '../store/sqlite/lock-table.ts';

/** An item ready to run, as the choice sees it: where it counts (run, queue) and what it locks. */
export interface DispatchCandidate {
  readonly runId: string;
  /** The queue the item names, if any. */
  readonly queue?: string;
  readonly locks: readonly HeldLock[];
}

/** What limits a dispatch pass, as it stands when the pass begins. */
export interface DispatchLimits {
  /** Attempts that may start in this pass (the concurrency limit less the live attempts). */
  readonly capacity: number;
  /** Live attempts per run and per queue. */
  readonly liveByRun: ReadonlyMap<string, number>;
  readonly liveByQueue: ReadonlyMap<string, number>;
  /** A run's own concurrency limit (`concurrency` in its spec); undefined or null: none. */
  readonly runLimit: (runId: string) => number | null | undefined;
  /** A queue's limit; undefined: none. */
  readonly queueLimit: (queue: string) => number | undefined;
  /** The modes in which each lock name is held now (by attempts already running). */
  readonly heldLocks: ReadonlyMap<string, readonly HeldLock['mode'][]>;
}

/**
 * Which ready items a dispatch pass starts, in the order given (the dispatch order: highest
 * effective priority first, FIFO within one; `RunStore.readyCandidatesInPages`), within the
 * concurrency, per-run and per-queue limits and the global locks (ADR 0023): a pure function of the
 * candidates, in that order, and the limits — the same inputs give the same choice. An item takes
 * all its locks or waits; a waiting item reserves the lock names it waits for, so no later item takes them first
 * (FIFO for lock waiters: shared holders cannot starve an exclusive waiter). Candidates are read
 * lazily and no more are read once the pass is full. `onLockWait` hears of each candidate read that
 * waits for locks (not for a concurrency limit), with the names held or reserved before it.
 */
export function chooseDispatches<Candidate extends DispatchCandidate>(
  candidates: Iterable<Candidate>,
  limits: DispatchLimits,
  onLockWait?: (candidate: Candidate, locks: string[]) => void,
): Candidate[] {
  const chosen: Candidate[] = [];
  if (limits.capacity <= 0) return chosen;
  const byRun = new Map(limits.liveByRun);
  const byQueue = new Map(limits.liveByQueue);
  // Lock modes held now plus those this pass has promised to the items it chose.
  const holding = new Map<string, HeldLock['mode'][]>([...limits.heldLocks].map(([name, modes]) => [name, [...modes]]));
  const reserved = new Set<string>();
  const free = (lock: HeldLock) => {
    const modes = holding.get(lock.name) ?? [];
    return lock.mode === 'shared' ? modes.every((mode) => mode === 'shared') : modes.length === 0;
  };
  for (const candidate of candidates) {
    const runLimit = limits.runLimit(candidate.runId) ?? Infinity;
    const queueLimit = candidate.queue === undefined ? Infinity : (limits.queueLimit(candidate.queue) ?? Infinity);
    if ((byRun.get(candidate.runId) ?? 0) >= runLimit) continue;
    if (candidate.queue !== undefined && (byQueue.get(candidate.queue) ?? 0) >= queueLimit) continue;
    if (candidate.locks.every((lock) => !reserved.has(lock.name) && free(lock))) {
      for (const lock of candidate.locks) holding.set(lock.name, [...(holding.get(lock.name) ?? []), lock.mode]);
      byRun.set(candidate.runId, (byRun.get(candidate.runId) ?? 0) + 1);
      if (candidate.queue !== undefined) byQueue.set(candidate.queue, (byQueue.get(candidate.queue) ?? 0) + 1);
      chosen.push(candidate);
      // Full: no further candidate is read (reading one costs the caller a query).
      if (chosen.length >= limits.capacity) break;
    } else {
      onLockWait?.(
        candidate,
        candidate.locks.filter((lock) => reserved.has(lock.name) || !free(lock)).map((lock) => lock.name),
      );
      for (const lock of candidate.locks) reserved.add(lock.name);
    }
  }
  return chosen;
}
