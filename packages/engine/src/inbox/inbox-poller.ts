import type { Logger } from '@cairn/core';
import type { InboxIngester } from './inbox-ingester.ts';

export interface InboxPollerSettings {
  readonly inbox: InboxIngester;
  /** How often the inbox is read; `false` never reads it. */
  readonly intervalMs: number | false;
  /** Whether a poll's failure is the disk being full (said by the engine's readiness, not logged here). */
  readonly storageFull: (error: unknown) => boolean;
  /** Told when a poll has ended, whatever it found: what it ingested is the loop's to dispatch. */
  readonly polled: () => void;
  readonly logger?: Logger | undefined;
}

/**
 * Reads the storage's inbox every `intervalMs`, one read at a time, beside the engine's loop: slow
 * storage must not hold the loop up.
 */
export class InboxPoller {
  readonly #inbox: InboxIngester;
  readonly #intervalMs: number | false;
  readonly #storageFull: (error: unknown) => boolean;
  readonly #polled: () => void;
  readonly #logger: Logger | undefined;
  /** The poll in flight. */
  #poll: Promise<unknown> | undefined;
  #lastPoll = 0;

  constructor(settings: InboxPollerSettings) {
    this.#inbox = settings.inbox;
    this.#intervalMs = settings.intervalMs;
    this.#storageFull = settings.storageFull;
    this.#polled = settings.polled;
    this.#logger = settings.logger;
  }

  // Reads the inbox when its interval has passed and no read is in flight; a poll that ingests
  // something wakes the loop.
  pollIfDue(): void {
    const inboxPollMs = this.#intervalMs;
    if (inboxPollMs === false || this.#poll || Date.now() - this.#lastPoll < inboxPollMs) return;
    this.#lastPoll = Date.now();
    this.#poll = this.#inbox
      .poll()
      .catch((error: unknown) => {
        if (!this.#storageFull(error)) this.#logger?.warn({ error: String(error) }, 'reading the inbox failed; trying again later');
      })
      .finally(() => {
        this.#poll = undefined;
        this.#polled();
      });
  }

  /** Milliseconds until a poll is due; Infinity while one is in flight or when the inbox is off. */
  untilDueMs(): number {
    const inboxPollMs = this.#intervalMs;
    return inboxPollMs === false || this.#poll ? Infinity : this.#lastPoll + inboxPollMs - Date.now();
  }

  /** Resolves once the poll in flight, if any, has ended (it never rejects). */
  async settled(): Promise<void> {
    await this.#poll;
  }
}
