/**
 * Runs tasks of one key one after another, and tasks of different keys side by side. An anchor
 * runs its anchorings of one tree head through it, so it never races itself: a retry waits for
 * the first attempt and then finds its result. A failed task does not stop the next one.
 */
export class PerKeyQueue {
  readonly #running = new Map<string, Promise<unknown>>();

  async run<Result>(key: string, task: () => Promise<Result>): Promise<Result> {
    const previous = this.#running.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(task);
    this.#running.set(key, current);
    try {
      return await current;
    } finally {
      if (this.#running.get(key) === current) this.#running.delete(key);
    }
  }
}
