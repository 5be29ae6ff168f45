/** What a started part gives back to be closed. */
type Close = () => Promise<void> | void;

/**
 * The parts of a server that hold something until closed (tracing, stores, the gateway, the
 * engine, the dispatcher, the triggers), started one after another and closed in reverse: a part
 * closes before those it was started on. A part that fails to start closes every part started
 * before it, so a server that cannot start leaves nothing open, and the composition needs no
 * clean-up chain of its own (fastify's `onClose`, in reverse order of registration).
 */
export class StartedParts {
  readonly #started: { readonly name: string; readonly close: Close }[] = [];

  /**
   * Starts a part after those started already and returns what it started; `close` is called with
   * it by `closeInReverse`. When `start` throws, the parts started before it are closed in reverse
   * and its error is thrown, never one of theirs: it says why the server did not start (their
   * failures to close are attached to it as `closeErrors`).
   */
  async startInOrder<Part>(name: string, start: () => Promise<Part> | Part, close: (part: Part) => Promise<void> | void): Promise<Part> {
    let part: Part;
    try {
      part = await start();
    } catch (error) {
      const closeErrors = await this.#closeAll();
      if (closeErrors.length > 0 && typeof error === 'object' && error !== null && Object.isExtensible(error)) Object.assign(error, { closeErrors });
      throw error;
    }
    this.#started.push({ name, close: () => close(part) });
    return part;
  }

  /** The names of the parts started and not closed yet, first started first. */
  get names(): string[] {
    return this.#started.map((part) => part.name);
  }

  /**
   * Closes every started part, the last started first, each once (a second call closes nothing).
   * A part whose close fails does not keep the others open: all are closed, then its error is
   * thrown (an AggregateError of them all when more than one failed).
   */
  async closeInReverse(): Promise<void> {
    const failures = await this.#closeAll();
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, `${failures.length} parts of the server failed to close`);
  }

  async #closeAll(): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (let part = this.#started.pop(); part !== undefined; part = this.#started.pop()) {
      try {
        await part.close();
      } catch (error) {
        failures.push(error);
      }
    }
    return failures;
  }
}
