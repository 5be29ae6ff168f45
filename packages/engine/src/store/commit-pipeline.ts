import type { GroupCommit } from './group-commit.ts';

/**
 * The pipelining both group commits share: at most one flush is in flight, and each carries
 * everything written up to the moment it began. A `commit` call asks for the point it is made at:
 * with nothing in flight a flush begins at once; while one is in flight the call joins the next
 * flush, which begins the moment the one in flight lands and carries whatever was written
 * meanwhile. So the engine goes on deciding while a flush is under way, every call made during one
 * shares the next, and a call resolves once what its caller wrote before calling is durable.
 *
 * A failed flush breaks the pipeline for good: what it was to make durable may be lost (a failed
 * fsync may have dropped the pages it was writing; a failed PostgreSQL commit drained changes the
 * store never got), so nothing written since may be acted on: the next flush and every call
 * joined to it reject too, with the error `broken` names.
 */
export class CommitPipeline {
  readonly #flush: () => Promise<void>;
  readonly #breakage: (cause: unknown) => Error;
  /** The flush under way, if any. */
  #inFlight: Promise<void> | undefined;
  /** The flush that begins when the one in flight lands, shared by every call made meanwhile. */
  #next: Promise<void> | undefined;
  #broken: Error | undefined;
  /** What commits beginning now wait for first (`hold`), until each settles. */
  readonly #holds = new Set<Promise<unknown>>();
  #breaks: (error: Error) => void = () => {};
  /** Resolves (never rejects) with why, once a flush has failed: nothing may be committed after it. */
  readonly failed = new Promise<Error>((resolve) => (this.#breaks = resolve));

  /** `flush` makes durable what was written before it was called; `breakage` names its failure as the error every later call gets. */
  constructor(flush: () => Promise<void>, breakage: (cause: unknown) => Error) {
    this.#flush = flush;
    this.#breakage = breakage;
  }

  /** Why commits fail from now on, once one has. */
  get broken(): Error | undefined {
    return this.#broken;
  }

  readonly commit: GroupCommit = Object.assign(
    () => {
      if (this.#broken) return Promise.reject(this.#broken);
      if (this.#next) return this.#next;
      if (this.#inFlight === undefined) return this.#begin();
      // Joins the flush after the one in flight, which carries what the caller wrote before calling.
      this.#next = this.#inFlight.then(
        () => this.#begin(),
        () => Promise.reject(this.#broken),
      );
      return this.#next;
    },
    { hold: (durable: Promise<unknown>) => this.#hold(durable) },
  );

  /**
   * Every flush that begins from now on (a flush already under way is not held: the caller holds
   * before it writes) waits for `durable`; a rejection breaks the pipeline with its error.
   */
  #hold(durable: Promise<unknown>): void {
    const held = durable.then(
      () => void this.#holds.delete(held),
      (error: unknown) => {
        this.#holds.delete(held);
        this.#broken ??= error instanceof Error ? error : new Error(String(error));
        this.#breaks(this.#broken);
        throw this.#broken;
      },
    );
    // Its rejection is reported by the flush it holds (or by the next commit called).
    held.catch(() => undefined);
    this.#holds.add(held);
  }

  // Starts a flush now; when it lands, the next one (if any call joined it) begins.
  #begin(): Promise<void> {
    this.#next = undefined;
    const flight = this.#flushOnce();
    this.#inFlight = flight;
    // Cleared when it lands, before the joined flush (which runs in a later callback) begins.
    void flight.then(
      () => this.#landed(flight),
      () => this.#landed(flight),
    );
    return flight;
  }

  #landed(flight: Promise<void>): void {
    if (this.#inFlight === flight) this.#inFlight = undefined;
  }

  async #flushOnce(): Promise<void> {
    if (this.#broken) throw this.#broken;
    // What was held is durable before this flush carries what names it, holds made while it
    // waits included (their writes come before its flush too).
    while (this.#holds.size > 0) await Promise.all(this.#holds).catch(() => undefined);
    if (this.#broken) throw this.#broken;
    try {
      await this.#flush();
    } catch (error) {
      this.#broken ??= this.#breakage(error);
      this.#breaks(this.#broken);
      throw this.#broken;
    }
  }
}
