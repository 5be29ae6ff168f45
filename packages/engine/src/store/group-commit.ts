/**
 * Makes what the engine has written to its working copy durable in the state store, resolving
 * once it is. The engine calls it before anything those writes cause leaves it: a task started or
 * stopped, a checkpoint anchored, a run waiter told, a command answered. A rejection means nothing
 * written since the last commit may be acted on: the effect is not carried out.
 *
 * With SQLite it is one fsync of the WAL (`WalCommit`); with PostgreSQL it sends the captured
 * changes in one transaction (`GroupCommitter`).
 */
export type GroupCommit = (() => Promise<void>) & {
  /**
   * Holds every commit that begins from now on until `durable` settles: the caller writes, once
   * it settles, what a commit asked for meanwhile must carry (a model call's entry, written only
   * once its bodies are durable in storage, ADR 0059). A rejection breaks the commit for good, with
   * that error, as a failed flush does. Absent where a commit makes nothing durable (a database in
   * memory).
   */
  readonly hold?: (durable: Promise<unknown>) => void;
};

/** For a part used on its own (a test's dispatcher or checkpointer): nothing is waited for. */
export const nothingToWaitFor: GroupCommit = () => Promise.resolve();
