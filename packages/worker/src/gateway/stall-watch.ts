import { CairnError } from '@cairn/protocol';

/**
 * Ends an attempt that made no model call and wrote no output for `stallTimeoutMs` (the item's
 * `stallTimeout`) with CAIRN_ATTEMPT_STALLED, naming the last activity seen: a stuck agent is told
 * apart from a slow one, which keeps calling its model or printing as it works.
 */
export class StallWatch {
  readonly #timeoutMs: number;
  readonly #startedAt = Date.now();
  readonly #timer: NodeJS.Timeout;
  #lastAt = Date.now();
  #last: string | undefined;

  constructor(timeoutMs: number, stalled: (failure: CairnError) => void) {
    this.#timeoutMs = timeoutMs;
    // Looked at a few times per timeout: the attempt ends at most a quarter of it late.
    const every = Math.max(10, Math.min(1_000, Math.floor(timeoutMs / 4)));
    this.#timer = setInterval(() => {
      const quiet = Date.now() - this.#lastAt;
      if (quiet < this.#timeoutMs) return;
      this.stop();
      stalled(new CairnError('CAIRN_ATTEMPT_STALLED', this.#message(quiet)));
    }, every);
  }

  /** Something happened: a model call's bytes passed, or the runtime wrote output. */
  saw(what: 'model call' | 'output'): void {
    this.#lastAt = Date.now();
    this.#last = what;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #message(quietMs: number): string {
    const last =
      this.#last === undefined
        ? `it made no model call and wrote no output at all in ${quietMs} ms since it started`
        : `its last activity (${this.#last === 'output' ? 'output' : 'a model call'}) was ${quietMs} ms ago, ${this.#lastAt - this.#startedAt} ms after it started, at ${new Date(this.#lastAt).toISOString()}`;
    return `The attempt was stopped as stalled: ${last}, and its item's stallTimeout is ${this.#timeoutMs} ms. Raise stallTimeout if the work is slow rather than stuck.`;
  }
}
