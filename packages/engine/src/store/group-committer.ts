import { CairnError } from '@cairn/protocol';
import type { ChangeCapture } from './change-capture.ts';
import { CommitPipeline } from './commit-pipeline.ts';
import type { GroupCommit } from './group-commit.ts';
import type { CommandResult } from './postgres/postgres-commands.ts';
import type { PostgresWriter } from './postgres/postgres-writer.ts';

/**
 * The group commit of an engine deciding on a working copy (ADR 0023): each commit sends
 * everything captured (with the answers of the commands carried out) since the last one to
 * PostgreSQL in one transaction, pipelined by `CommitPipeline` (one on the wire, calls made
 * meanwhile share the next). Commits keep the order of the working copy's transactions, so the
 * audit sequence they carry stays gapless.
 *
 * A failed commit breaks the committer for good: its changes were drained and are not in the
 * store, so nothing written since may be sent on top of them, and nothing may leave the engine.
 * The engine is then stopped and its working copy dropped; the next writer loads what is stored.
 */
export class GroupCommitter {
  readonly #capture: ChangeCapture;
  readonly #writer: PostgresWriter;
  readonly #pipeline: CommitPipeline;
  #answers: CommandResult[] = [];
  /** A command being carried out: a commit waits for it, so the command's state and its answer travel together. */
  #carrying: Promise<unknown> | undefined;
  /** Resolves (never rejects) with why, once a commit has failed: nothing may be committed after it. */
  readonly failed: Promise<Error>;
  readonly commit: GroupCommit;

  constructor(capture: ChangeCapture, writer: PostgresWriter) {
    this.#capture = capture;
    this.#writer = writer;
    this.#pipeline = new CommitPipeline(
      () => this.#flush(),
      (cause) =>
        new CairnError(
          'CAIRN_STATE_UNAVAILABLE',
          `A group commit of the engine's state failed, so nothing decided since may leave the engine: ${(cause as Error).message}`,
          { path: 'engine.state', cause },
        ),
    );
    this.failed = this.#pipeline.failed;
    this.commit = this.#pipeline.commit;
  }

  /** Why commits fail from now on, once one has. */
  get broken(): Error | undefined {
    return this.#pipeline.broken;
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

  async #flush(): Promise<void> {
    while (this.#carrying) await this.#carrying.catch(() => {});
    const batch = this.#capture.drain();
    const answers = this.#answers.splice(0);
    if (batch.tables.length === 0 && answers.length === 0) return;
    await this.#writer.commit(batch, answers);
  }
}
