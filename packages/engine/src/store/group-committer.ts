import { CairnError } from '@cairn/protocol';
import type { ChangeCapture } from './change-capture.ts';
import type { GroupCommit } from './group-commit.ts';
import type { CommandResult } from './postgres/postgres-commands.ts';
import type { PostgresWriter } from './postgres/postgres-state-store.ts';

/**
 * The group commit of an engine deciding on a working copy (ADR 0023): each `commit` sends what
 * was captured since the previous one, with the answers of the commands carried out meanwhile, in
 * one transaction on the lease connection. Commits run one after another, in call order, and a
 * call resolves once a commit that began after it has gone through, so whatever the caller wrote
 * before calling is durable.
 *
 * A failed commit breaks the committer for good: its changes were drained and are not in the
 * store, so nothing written since may be sent on top of them, and nothing may leave the engine.
 * The engine is then stopped and its working copy dropped; the next writer loads what is stored.
 */
export class GroupCommitter {
  readonly #capture: ChangeCapture;
  readonly #writer: PostgresWriter;
  #answers: CommandResult[] = [];
  #tail: Promise<void> = Promise.resolve();
  /** A command being carried out: a commit waits for it, so the command's state and its answer travel together. */
  #carrying: Promise<unknown> | undefined;
  #broken: Error | undefined;
  #breaks: (error: Error) => void = () => {};
  /** Resolves (never rejects) with why, once a commit has failed: nothing may be committed after it. */
  readonly failed = new Promise<Error>((resolve) => (this.#breaks = resolve));

  constructor(capture: ChangeCapture, writer: PostgresWriter) {
    this.#capture = capture;
    this.#writer = writer;
  }

  /** Why commits fail from now on, once one has. */
  get broken(): Error | undefined {
    return this.#broken;
  }

  /**
   * Carries out a command whose answer `body` returns: no commit starts while it runs, so the
   * state it writes and its answer are in the same commit. A command whose answer is not durable
   * made no durable change either, and the next writer carries it out again (ADR 0023).
   */
  async carryOut(body: () => Promise<CommandResult>): Promise<void> {
    const carrying = body().then((answer) => void this.#answers.push(answer));
    this.#carrying = carrying;
    try {
      await carrying;
    } finally {
      this.#carrying = undefined;
    }
  }

  readonly commit: GroupCommit = () => {
    const next = this.#tail.then(() => this.#flush());
    this.#tail = next.catch(() => {});
    return next;
  };

  async #flush(): Promise<void> {
    while (this.#carrying) await this.#carrying.catch(() => {});
    if (this.#broken) throw this.#broken;
    const batch = this.#capture.drain();
    const answers = this.#answers.splice(0);
    if (batch.tables.length === 0 && answers.length === 0) return;
    try {
      await this.#writer.commit(batch, answers);
    } catch (error) {
      this.#broken = new CairnError(
        'CAIRN_STATE_UNAVAILABLE',
        `A group commit of the engine's state failed, so nothing decided since may leave the engine: ${(error as Error).message}`,
        { path: 'engine.state', cause: error },
      );
      this.#breaks(this.#broken);
      throw this.#broken;
    }
  }
}
