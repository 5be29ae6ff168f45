import { isoTime } from '../iso-time.ts';

/**
 * The earliest approval deadline, kept in memory so that the loop, which asks on every turn, reads
 * nothing while no deadline can have passed. Kept early, never late: an item sent to await approval
 * lowers it at once, and an item that leaves the wait (or a transaction rolled back) makes it
 * forgotten, which costs one read at most.
 */
export class ApprovalDeadlines {
  readonly #read: () => string | null;
  /** Ms of the earliest deadline; null when no item awaits approval; undefined until read. */
  #dueFrom: number | null | undefined;

  /** `read` finds the earliest deadline in the store (null when none awaits approval). */
  constructor(read: () => string | null) {
    this.#read = read;
  }

  /** Whether no deadline can have passed by `now`, known without reading. */
  noneDueBy(now: number): boolean {
    return this.#dueFrom === null || (this.#dueFrom !== undefined && this.#dueFrom > now);
  }

  /** The earliest may have changed in a way only a read tells (an item left the wait). */
  forget(): void {
    this.#dueFrom = undefined;
  }

  /** An item now awaits approval until `deadline`. */
  lower(deadline: string): void {
    if (this.#dueFrom !== undefined) this.#dueFrom = Math.min(this.#dueFrom ?? Infinity, Date.parse(deadline));
  }

  /** The earliest deadline, if any item awaits approval. */
  next(): string | null {
    if (this.#dueFrom === null) return null;
    if (this.#dueFrom !== undefined) return isoTime(this.#dueFrom);
    const deadline = this.#read();
    this.#dueFrom = deadline === null ? null : Date.parse(deadline);
    return deadline;
  }
}
