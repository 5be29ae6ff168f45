/** How the server's log sink is doing, as `/readyz` reports it. */
export interface LogSinkStatus {
  /** Whether the last line was written (true before the first). */
  readonly ok: boolean;
  /** Lines dropped since the server started, because the sink refused them. */
  readonly droppedLines: number;
  /** While failing: when the first line of this failure was dropped (ISO 8601). */
  readonly since?: string;
  /** While failing: why the last line was dropped, e.g. `ENOSPC: no space left on device, write`. */
  readonly reason?: string;
}

/** A failure that is over: when it began, why, and how many lines it cost. */
export interface LogSinkOutage {
  readonly since: string;
  readonly reason: string;
  readonly droppedLines: number;
}

/**
 * Whether the log sink is writing, counted line by line. A sink that cannot write (a full disk, a
 * reader gone from the pipe) drops lines rather than stopping the server, so the count and the
 * start of the failure are the only trace of them: `/readyz` and `/metrics` report them, and the
 * first line written again says what was lost (`onRecovered`).
 */
export class LogSinkHealth {
  #droppedLines = 0;
  #failure: { since: Date; reason: string; droppedBefore: number } | undefined;
  readonly #recoveredListeners: ((outage: LogSinkOutage) => void)[] = [];

  /** A line reached the sink. */
  written(): void {
    const failure = this.#failure;
    if (failure === undefined) return;
    this.#failure = undefined;
    const outage = { since: failure.since.toISOString(), reason: failure.reason, droppedLines: this.#droppedLines - failure.droppedBefore };
    // After the line being written now, not inside its write: a listener logs, and so writes again.
    for (const listener of this.#recoveredListeners) queueMicrotask(() => listener(outage));
  }

  /** A line was dropped: the sink refused it with `error`. */
  dropped(error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    if (this.#failure === undefined) this.#failure = { since: new Date(), reason, droppedBefore: this.#droppedLines };
    else this.#failure.reason = reason;
    this.#droppedLines++;
  }

  status(): LogSinkStatus {
    const failure = this.#failure;
    return failure === undefined
      ? { ok: true, droppedLines: this.#droppedLines }
      : { ok: false, droppedLines: this.#droppedLines, since: failure.since.toISOString(), reason: failure.reason };
  }

  /** Calls `listener` each time the sink writes again after dropping lines. */
  onRecovered(listener: (outage: LogSinkOutage) => void): void {
    this.#recoveredListeners.push(listener);
  }
}
