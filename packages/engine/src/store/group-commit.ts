/**
 * Makes what the engine has written to its working copy durable in the state store (ADR 0023),
 * resolving once it is. The engine calls it before anything those writes cause leaves it: a task
 * started or stopped, a checkpoint anchored, a run waiter told. A rejection means nothing written
 * since the last commit may be acted on (the writer lost its lease): the effect is not carried out.
 *
 * With SQLite the working copy is the database file and each transaction is its own commit, so
 * there is nothing to do; with PostgreSQL it sends the captured changes in one transaction.
 */
export type GroupCommit = () => Promise<void>;

/** The SQLite commit: every working-copy transaction was already durable when it ended. */
export const committedByTransactions: GroupCommit = () => Promise.resolve();
