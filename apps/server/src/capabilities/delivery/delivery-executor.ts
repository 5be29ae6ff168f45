import type { AttemptFailure, DispatchManifest, ExecutionHandle, ExecutionStatus, ExecutorV1, Logger, ResultRecord, TaskEnvelope } from '@cairn/core';
import { storedManifestPayload } from '@cairn/audit';
import {
  assertDigest,
  blobKey,
  CairnError,
  canonicalJsonBytes,
  dispatchManifestSchema,
  isCairnError,
  manifestKey,
  parsePayload,
  resultKey,
  resultRecordSchema,
  sha256Digest,
  storedManifestSchema,
} from '@cairn/protocol';
import { deliverPatch, type DeliveryContext } from './deliver-patch.ts';

/** The provider name this executor stamps into its handles. */
const provider = 'deliver';

/**
 * Runs deliver items in the server process (ADR 0040), never in a sandbox: the forge's token is a
 * server secret and stays in the server. The engine dispatches each deliver item to it as to any
 * executor (a signed manifest, a result record by its fencing token), so a delivery is audited as
 * every attempt is: dispatched, its result, its artifacts (`stdout` what it did, `output` the
 * delivery as `Item.delivery` shows it).
 *
 * A task lives in this process: `inspect` answers from it while it runs, and after a restart from
 * the result record in storage; a task that left none (the server died mid-delivery) is
 * `unknown`, which a deliver item's `onLost: fail` turns into a failure for a person to look at
 * (the push may have happened; delivering again is safe, the branch is idempotent). It cannot
 * cancel a delivery under way (a push is not interruptible halfway); a cancelled one ends by itself.
 *
 * A finished delivery's status is held in memory only until the engine has it: pushed to an
 * `onExit` listener, or else answered to `inspect`. Then it is forgotten, so a long-lived server
 * holds only the deliveries under way and those not yet told. Asked again, `inspect` answers from
 * the result record, the same `exited` status; one that left no record (its storage failed) is
 * `unknown`, as the seam says of a forgotten task: the engine has recorded it lost already.
 */
export class DeliveryExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1' as const;
  readonly provider = provider;
  readonly capabilities = { cancel: false, pushesCompletions: true, isolation: 'none' } as const;
  readonly #context: DeliveryContext;
  readonly #logger: Logger | undefined;
  readonly #running = new Map<string, Promise<void>>();
  /** Finished deliveries whose status the engine has not had yet (no listener was subscribed when they ended). */
  readonly #untold = new Map<string, ExecutionStatus>();
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();

  constructor(context: DeliveryContext, logger?: Logger) {
    this.#context = context;
    this.#logger = logger;
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const { executionId } = task;
    // Registered before anything is awaited: a second start of the same id joins this one. One that
    // ended already is not run again: its result record (or its untold status) answers for it.
    if (!this.#running.has(executionId) && !this.#untold.has(executionId)) {
      const running = (async () => {
        let status: ExecutionStatus;
        try {
          // A delivery that already recorded its result (before a restart) is not run again.
          status = (await this.#storedStatus(executionId)) ?? (await this.#run(task));
        } catch (error) {
          // Its result could not be read or written (storage failed): the engine counts the attempt lost.
          this.#logger?.error({ executionId, error: String(error) }, 'a delivery could not record its result');
          status = { state: 'unknown', reason: `the delivery could not record its result: ${(error as Error).message}` };
        }
        // Told now, the engine has it: nothing is kept. Untold, it waits for the engine's `inspect`.
        if (this.#listeners.size === 0) this.#untold.set(executionId, status);
        for (const listener of this.#listeners) listener(executionId, status);
      })().finally(() => this.#running.delete(executionId));
      this.#running.set(executionId, running);
    }
    return { executor: provider, executionId };
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const executionId = this.#checked(handle);
    const untold = this.#untold.get(executionId);
    if (untold) {
      this.#untold.delete(executionId);
      return untold;
    }
    if (this.#running.has(executionId)) return { state: 'running' };
    return (
      (await this.#storedStatus(executionId)) ?? {
        state: 'unknown',
        reason: 'no result of this delivery was recorded: the server running it stopped, or it could not store one',
      }
    );
  }

  async cancel(handle: ExecutionHandle): Promise<void> {
    this.#checked(handle);
  }

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How many statuses this instance holds in memory: the deliveries under way and the finished ones not yet told. */
  get heldStatuses(): number {
    return this.#running.size + this.#untold.size;
  }

  /** Waits for the deliveries under way (a server closing lets them finish: a push cut halfway helps no one). */
  async settled(): Promise<void> {
    await Promise.all(this.#running.values());
  }

  #checked(handle: ExecutionHandle): string {
    if (handle.executor !== provider || typeof handle.executionId !== 'string')
      throw new CairnError('CAIRN_EXECUTOR_HANDLE_INVALID', `The handle was issued by executor ${JSON.stringify(handle.executor)}, not by ${provider}.`, {
        path: 'handle.executor',
      });
    return handle.executionId;
  }

  // The status the stored result record says, when there is one (a delivery this process or an
  // earlier one ran), carrying the record: the engine does not read it again (ADR 0060).
  async #storedStatus(executionId: string): Promise<ExecutionStatus | undefined> {
    const bytes = await this.#context.storage.get(resultKey(executionId));
    if (bytes === null) return undefined;
    const record = resultRecordSchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
    if (!record.success) return { state: 'exited', outcome: 'failed', resultKey: resultKey(executionId) };
    return {
      state: 'exited',
      outcome: record.data.outcome,
      exitCode: record.data.exitCode ?? undefined,
      resultKey: resultKey(executionId),
      result: record.data,
    } as ExecutionStatus;
  }

  async #run(task: TaskEnvelope): Promise<ExecutionStatus> {
    const startedAt = new Date().toISOString();
    let manifest: DispatchManifest;
    try {
      manifest = await this.#manifest(task);
    } catch (error) {
      // Without its manifest the attempt cannot be reported against its fencing token: the engine sees it lost.
      this.#logger?.error({ executionId: task.executionId, error: String(error) }, 'a delivery could not read its dispatch manifest');
      return { state: 'unknown', reason: `the dispatch manifest could not be read: ${(error as Error).message}` };
    }
    let stdout: string;
    let output: Uint8Array | undefined;
    let failure: AttemptFailure | undefined;
    try {
      const report = await deliverPatch(this.#context, manifest);
      stdout = `${report.lines.join('\n')}\n`;
      output = Buffer.from(JSON.stringify(report.delivery));
    } catch (error) {
      const cairn = isCairnError(error) ? error : undefined;
      const message = cairn ? cairn.message : `The delivery failed: ${(error as Error).message}`;
      failure = { code: cairn?.code ?? 'CAIRN_INTERNAL', message, exitCode: null, signal: null, stderrTail: message.slice(-2048) };
      stdout = '';
      this.#logger?.warn({ executionId: task.executionId, code: failure.code }, 'a delivery failed');
    }
    const stored = async (bytes: Uint8Array) => {
      const digest = sha256Digest(bytes);
      await this.#context.storage.put(blobKey(digest), bytes, { ifAbsent: true });
      return digest;
    };
    const record: ResultRecord = {
      version: 'cairn.result/v1',
      runId: manifest.runId,
      itemId: manifest.itemId,
      attempt: manifest.attempt,
      fencingToken: manifest.fencingToken,
      executionId: task.executionId,
      manifestDigest: task.manifestDigest,
      outcome: failure ? 'failed' : 'succeeded',
      exitCode: failure ? null : 0,
      startedAt,
      finishedAt: new Date().toISOString(),
      artifacts: {
        stdout: await stored(Buffer.from(stdout)),
        stderr: await stored(Buffer.from(failure ? `${failure.message}\n` : '')),
        ...(output ? { output: await stored(output) } : {}),
      },
      ...(failure ? { failure } : {}),
    };
    const checked = parsePayload(resultRecordSchema, record, 'result record');
    await this.#context.storage.put(resultKey(task.executionId), canonicalJsonBytes(checked), {
      contentType: 'application/json',
    });
    // The record carried as stored, once stored: the engine takes it rather than reading it back (ADR 0060).
    return {
      state: 'exited',
      outcome: record.outcome,
      ...(record.exitCode === null ? {} : { exitCode: record.exitCode }),
      resultKey: resultKey(task.executionId),
      result: checked as ResultRecord,
    };
  }

  // The manifest the engine stored for this task. Its bytes must hash to the digest the engine
  // handed over in this process, which makes them the engine's own: no signature to check here.
  async #manifest(task: TaskEnvelope): Promise<DispatchManifest> {
    const bytes = await this.#context.storage.get(manifestKey(task.manifestDigest));
    if (bytes === null) throw new CairnError('CAIRN_NOT_FOUND', `The dispatch manifest ${task.manifestDigest} is not in storage.`, { path: 'manifestDigest' });
    assertDigest(bytes, task.manifestDigest, 'The dispatch manifest');
    const stored = parsePayload(storedManifestSchema, JSON.parse(Buffer.from(bytes).toString('utf8')), 'stored manifest');
    const manifest = parsePayload(
      dispatchManifestSchema,
      JSON.parse(Buffer.from(storedManifestPayload(stored), 'base64').toString('utf8')),
      'dispatch manifest',
    );
    if (manifest.runtime.kind !== 'deliver' || manifest.executionId !== task.executionId)
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `The dispatch manifest ${task.manifestDigest} is not a delivery of execution ${task.executionId}.`, {
        path: 'manifestDigest',
      });
    return manifest as DispatchManifest;
  }
}
