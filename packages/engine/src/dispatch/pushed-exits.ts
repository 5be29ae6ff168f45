import type { ExecutionStatus } from '@cairn/core';
import type { AttemptRecord } from '../store/sqlite/attempt-store.ts';

/** An exit an executor pushed, for an attempt the engine has recorded as running. */
export interface PushedExit {
  readonly attempt: AttemptRecord;
  readonly status: ExecutionStatus;
}

export interface PushedExitsSettings {
  /** The attempt as the store has it now, to tell a running one from one that ended or is not started. */
  readonly attemptOf: (executionId: string) => AttemptRecord | undefined;
  /** Writes a batch of exits in one transaction; throws, writing none of them, when it cannot. */
  readonly write: (exits: readonly PushedExit[]) => Promise<void>;
}

/** Where an attempt this process has a stake in stands with its pushed exit. */
type ExitState =
  /**
   * Its dispatch is recorded and a dispatch pass is starting it: an exit pushed now came before
   * its start was recorded, and is kept (`early`) for the pass, which records it with the start.
   */
  | { readonly state: 'starting'; readonly early: ExecutionStatus | undefined }
  /**
   * Started by this process on an executor that pushes exits: its exit comes by itself, so
   * reconcile need not inspect it. Attempts started by an earlier process are never awaited (the
   * push went to a listener that is gone).
   */
  | { readonly state: 'awaited' }
  /**
   * Pushed, but the batch it was in could not be written (a full disk, storage down): kept until
   * it is. Reconcile inspects attempts whose exits are pushed only now and then, so dropping one
   * would leave its attempt running for seconds, or its task's outcome lost with it. `awaited`:
   * whether it was awaited before its exit came.
   */
  | { readonly state: 'unrecorded'; readonly exit: PushedExit; readonly awaited: boolean };

/**
 * The exits executors push, by execution id, each in one explicit state (see `ExitState`), and
 * the batch they are recorded in: exits that arrive together are recorded together, in one
 * transaction (group commit). An attempt is in the map only while it has a stake here: once
 * started on an executor that does not push, it has none.
 */
export class PushedExits {
  readonly #states = new Map<string, ExitState>();
  readonly #attemptOf: PushedExitsSettings['attemptOf'];
  readonly #write: PushedExitsSettings['write'];
  /** Pushed exits waiting to be recorded together. */
  #batch: { exits: PushedExit[]; done: Promise<void> } | undefined;

  constructor({ attemptOf, write }: PushedExitsSettings) {
    this.#attemptOf = attemptOf;
    this.#write = write;
  }

  /**
   * An exit an executor pushed: recorded with the others pushed in the same tick, and true once it
   * is. False, with nothing written, for an exit kept for the pass starting its attempt, and for
   * one of an attempt not running (unknown, finished, or being started by recovery).
   */
  async pushed(executionId: string, status: ExecutionStatus): Promise<boolean> {
    if (this.#keepIfStarting(executionId, status)) return false;
    const attempt = this.#attemptOf(executionId);
    // A task the executor no longer knows (its process died without an outcome) is lost: recorded
    // as `inspect` would find it. One pushed while recovery starts its attempt is left to
    // reconcile, which inspects the attempt once its start is recorded.
    if (attempt?.state !== 'running' || (status.state !== 'exited' && status.state !== 'unknown')) return false;
    await this.#record({ attempt, status });
    return true;
  }

  /** A dispatch pass recorded the attempt's dispatch and is starting it now. */
  starting(executionId: string): void {
    this.#states.set(executionId, { state: 'starting', early: undefined });
  }

  /** The exit pushed for an attempt being started, if one was, taken by the pass starting it. */
  takeEarly(executionId: string): ExecutionStatus | undefined {
    const state = this.#states.get(executionId);
    if (state?.state !== 'starting' || state.early === undefined) return undefined;
    this.#states.set(executionId, { state: 'starting', early: undefined });
    return state.early;
  }

  /** Its start is recorded (in the caller's transaction) and its executor pushes exits. */
  awaitExit(executionId: string): void {
    this.#states.set(executionId, { state: 'awaited' });
  }

  /**
   * The pass is done starting it: its start is recorded, failed, or (its transaction failed) is
   * left to recovery. One whose exit is awaited stays so.
   */
  startSettled(executionId: string): void {
    if (this.#states.get(executionId)?.state === 'starting') this.#states.delete(executionId);
  }

  /** Its end is recorded: no exit is awaited any more. An unrecorded one stays until it is written. */
  ended(executionId: string): void {
    if (this.#states.get(executionId)?.state === 'awaited') this.#states.delete(executionId);
  }

  /** Recovery started it again: its exit may have been pushed already, so reconcile inspects it. */
  forget(executionId: string): void {
    if (this.#states.get(executionId)?.state !== 'unrecorded') this.#states.delete(executionId);
  }

  /** Whether its exit is on its way by itself (reconcile may skip inspecting it). */
  isAwaited(executionId: string): boolean {
    const state = this.#states.get(executionId);
    return state !== undefined && (state.state === 'awaited' || (state.state === 'unrecorded' && state.awaited));
  }

  /**
   * True when the attempt is being started by a pass, which then keeps the exit for it if the task
   * exited. One that says the executor does not know the task is not kept: reconcile inspects the
   * attempt once its start is recorded.
   */
  #keepIfStarting(executionId: string, status: ExecutionStatus): boolean {
    if (this.#states.get(executionId)?.state !== 'starting') return false;
    if (status.state === 'exited') this.#states.set(executionId, { state: 'starting', early: status });
    return true;
  }

  // Exits that arrive together are recorded together, in one transaction (group commit). A batch
  // that fails rejects every caller's promise, and its exits are kept, unrecorded, until
  // `recordUnrecorded` writes them.
  #record(exit: PushedExit): Promise<void> {
    this.#batch ??= { exits: [], done: new Promise<void>((resolve, reject) => queueMicrotask(() => void this.#flush().then(resolve, reject))) };
    this.#batch.exits.push(exit);
    return this.#batch.done;
  }

  /**
   * Records the pushed exits an earlier batch failed to write (the engine's loop calls it every
   * turn; it costs nothing while there are none). Throws, keeping them, when they still cannot be
   * written. Returns how many were written.
   */
  async recordUnrecorded(): Promise<number> {
    const exits = this.#unrecordedExits();
    if (exits.length === 0) return 0;
    await this.#recordAll(exits);
    return exits.length;
  }

  /** Pushed exits not yet written (a full disk holds them back). */
  get unrecorded(): number {
    return this.#unrecordedExits().length;
  }

  #unrecordedExits(): PushedExit[] {
    const exits: PushedExit[] = [];
    for (const state of this.#states.values()) if (state.state === 'unrecorded') exits.push(state.exit);
    return exits;
  }

  async #flush(): Promise<void> {
    const { exits } = this.#batch!;
    this.#batch = undefined;
    await this.#recordAll(exits);
  }

  // On any failure nothing of the batch is written and every exit of it is kept for the next try
  // (recording an exit twice is harmless: the second finds it recorded).
  async #recordAll(exits: readonly PushedExit[]): Promise<void> {
    try {
      await this.#write(exits);
    } catch (error) {
      for (const exit of exits) {
        const { executionId } = exit.attempt;
        const awaited = this.isAwaited(executionId);
        // Kept in the order they first failed: the next try writes them in it.
        if (this.#states.get(executionId)?.state !== 'unrecorded') this.#states.delete(executionId);
        this.#states.set(executionId, { state: 'unrecorded', exit, awaited });
      }
      throw error;
    }
    for (const { attempt } of exits) if (this.#states.get(attempt.executionId)?.state === 'unrecorded') this.#states.delete(attempt.executionId);
  }
}
