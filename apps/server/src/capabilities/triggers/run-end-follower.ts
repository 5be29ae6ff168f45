import type { Logger } from '@cairn/core';
import type { EngineService, LeaderTask } from '@cairn/engine';

/** The run states a reply to where a run came from waits for. */
export const endedRunStates: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * What the triggers' replies share (the review loop's on a pull request, Linear's and Slack's): on
 * the replica that runs the engine (a LeaderTask), `sweep` first — what ended while no server
 * followed — then `onEnded` for each run that ends from then on. Where the log ends is read before
 * the sweep: a run ending between the two is seen by both, and the caller's once-only claim keeps it
 * to one reply. A follower that fails is logged with `stoppedMessage` and waits for the next start.
 */
export class RunEndFollower implements LeaderTask {
  readonly #service: EngineService;
  readonly #sweep: () => Promise<void>;
  readonly #onEnded: (runId: string) => Promise<void>;
  readonly #logger: Logger | undefined;
  readonly #stoppedMessage: string;
  #abort: AbortController | undefined;
  #following: Promise<void> | undefined;

  constructor(options: {
    readonly service: EngineService;
    readonly sweep: () => Promise<void>;
    readonly onEnded: (runId: string) => Promise<void>;
    readonly stoppedMessage: string;
    readonly logger?: Logger | undefined;
  }) {
    this.#service = options.service;
    this.#sweep = options.sweep;
    this.#onEnded = options.onEnded;
    this.#stoppedMessage = options.stoppedMessage;
    this.#logger = options.logger;
  }

  start(): void {
    if (this.#abort !== undefined) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#following = this.#follow(abort.signal).catch((error: unknown) => {
      if (!abort.signal.aborted) this.#logger?.error({ error: String(error) }, this.#stoppedMessage);
    });
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#following;
    this.#abort = undefined;
    this.#following = undefined;
  }

  async #follow(signal: AbortSignal): Promise<void> {
    const after = (await this.#service.auditSize()) - 1;
    await this.#sweep();
    for await (const event of this.#service.events({ after, follow: true, signal, types: ['run.state'] })) {
      if (event.type === 'run.state' && endedRunStates.has(event.state)) await this.#onEnded(event.runId);
    }
  }
}
