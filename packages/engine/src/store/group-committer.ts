import { CairnError } from '@cairn/protocol';
import type { ChangeCapture } from './change-capture.ts';
import type { GroupCommit } from './group-commit.ts';
import type { CommandResult } from './postgres/postgres-commands.ts';
import type { PostgresWriter } from './postgres/postgres-state-store.ts';

/**
 * The group commit of an engine deciding on a working copy (ADR 0023), pipelined: at most one
 * commit is in flight on the lease connection, and each carries everything captured (with the
 * answers of the commands carried out) up to the moment it began. A `commit` call asks for the
 * point it is made at: with nothing in flight a commit of everything captured so far begins at
 * once; while one is in flight the call joins the next commit, which begins the moment the one in
 * flight lands and carries whatever was written meanwhile. So the engine goes on deciding while a
 * commit is on the wire, every call made during one flight shares one next commit, and a call
 * resolves once what its caller wrote before calling is durable. Commits keep the order of the
 * working copy's transactions, so the audit sequence they carry stays gapless.
 *
 * A failed commit breaks the committer for good: its changes were drained and are not in the
 * store, so nothing written since may be sent on top of them, and nothing may leave the engine:
 * the next commit and every call joined to it reject too. The engine is then stopped and its
 * working copy dropped; the next writer loads what is stored.
 */
export class GroupCommitter {
  readonly #capture: ChangeCapture;
  readonly #writer: PostgresWriter;
  #answers: CommandResult[] = [];
  /** The commit on the wire, if any. */
  #inFlight: Promise<void> | undefined;
  /** The commit that begins when the one in flight lands, shared by every call made meanwhile. */
  #next: Promise<void> | undefined;
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
    if (this.#broken) return Promise.reject(this.#broken);
    if (this.#next) return this.#next;
    if (this.#inFlight === undefined) return this.#begin();
    // Joins the commit after the one in flight: it drains when it begins, so it carries what the
    // caller wrote before calling.
    this.#next = this.#inFlight.then(
      () => this.#begin(),
      () => Promise.reject(this.#broken),
    );
    return this.#next;
  };

  // Puts a commit on the wire now; when it lands, the next one (if any call joined it) begins.
  #begin(): Promise<void> {
    this.#next = undefined;
    const flight = this.#flush();
    this.#inFlight = flight;
    // Cleared when it lands, before the joined commit (which runs in a later callback) begins.
    void flight.then(
      () => this.#landed(flight),
      () => this.#landed(flight),
    );
    return flight;
  }

  #landed(flight: Promise<void>): void {
    if (this.#inFlight === flight) this.#inFlight = undefined;
  }

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
