import type { IncomingHttpHeaders } from 'node:http';

/** What a log line says of the last refused request: enough to find the page, nothing it could fill at will. */
export interface RefusedRequest {
  readonly reason: 'host' | 'origin';
  readonly host?: string;
  readonly origin?: string;
}

/**
 * Refusals a page can provoke at will, logged at most once a minute: the first at once, then one
 * line a minute while they go on, saying how many came since the last line and the last one's
 * Host and Origin (cut short). A flood of refused requests costs a line a minute, not a line each.
 */
export class RefusalLog {
  readonly #write: (count: number, last: RefusedRequest) => void;
  readonly #now: () => number;
  #loggedAt = Number.NEGATIVE_INFINITY;
  #unlogged = 0;
  #last: RefusedRequest | undefined;
  /** A line is due when the minute since the last one is over. */
  #due = false;

  constructor(write: (count: number, last: RefusedRequest) => void, now: () => number = Date.now) {
    this.#write = write;
    this.#now = now;
  }

  saw(reason: RefusedRequest['reason'], headers: IncomingHttpHeaders): void {
    this.#unlogged++;
    this.#last = {
      reason,
      ...(headers.host === undefined ? {} : { host: headers.host.slice(0, 200) }),
      ...(headers.origin === undefined ? {} : { origin: headers.origin.slice(0, 200) }),
    };
    const wait = this.#loggedAt + 60_000 - this.#now();
    if (wait <= 0) this.#flush();
    else if (!this.#due) {
      this.#due = true;
      setTimeout(() => this.#flush(), wait).unref();
    }
  }

  #flush(): void {
    this.#due = false;
    if (this.#unlogged === 0 || this.#last === undefined) return;
    this.#loggedAt = this.#now();
    this.#write(this.#unlogged, this.#last);
    this.#unlogged = 0;
  }
}
