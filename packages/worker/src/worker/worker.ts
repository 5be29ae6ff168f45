import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  AttemptEnvironment,
  DispatchManifest,
  EgressSummary,
  ExecutionOutcome,
  LimitHit,
  Logger,
  MergeRuntimeSpec,
  PublicKeyRecord,
  ResultArtifacts,
  ResultRecord,
  CandidateCheckResult,
  RuntimeAdapterV1,
  RuntimeResult,
  StorageProviderV1,
  TaskEnvelope,
  TaskGateway,
  TaskTraceContext,
} from '@cairn/core';
import { trustedKeyFrom, type TrustedKey } from '@cairn/audit';
import {
  CairnError,
  canonicalJsonBytes,
  isCairnError,
  parsePayload,
  parseSettings,
  recordRetryWaits,
  publicKeyRecordSchema,
  resultKey,
  resultRecordSchema,
  taskEnvelopeSchema,
  type RetryWait,
} from '@cairn/protocol';
import { z } from 'zod';
import type { AttemptWorkspace } from '../git/attempt-workspace.ts';
import { gatewayEnvironment } from '../gateway/gateway-environment.ts';
import { GatewayForwarder } from '../gateway/gateway-forwarder.ts';
import { AttemptEgress, workerEgressSettingsSchema } from './attempt-egress.ts';
import { StallWatch } from '../gateway/stall-watch.ts';
import { LiveLogWriter } from '../logs/live-log-writer.ts';
import { LogCapture } from '../logs/log-capture.ts';
import { attemptIdentity } from '../manifest/attempt-identity.ts';
import { openTaskManifest } from '../manifest/open-task-manifest.ts';
import { outputFileName, readOutputJson } from '../output/read-output-json.ts';
import { mergePatches } from '../merge/merge-patches.ts';
import { capturePatch } from '../patch/capture-patch.ts';
import type { CommandRunResult } from '../runtime/command-runtime.ts';
import type { AttemptMounts } from './attempt-mounts.ts';
import { BlobStore } from './blob-store.ts';
import { inputsFolderName } from './deliver-inputs.ts';
import { prepareAttempt } from './prepare-attempt.ts';
import { attemptFailureOf } from './attempt-failure-of.ts';
import { namedSecrets, runtimeEnvironment } from './runtime-environment.ts';
import type { WorkspaceLayers } from './workspace-layers.ts';
import { storageWaitsOf } from './storage-waits-of.ts';
import { whileStorageFull } from './while-storage-full.ts';
import { runCandidateCheck } from './candidate-check.ts';

const seam = (name: string) =>
  z.custom<object>((value) => typeof value === 'object' && value !== null && (value as { specificationVersion?: unknown }).specificationVersion === 'v1', {
    message: `must be a ${name} (an object with specificationVersion 'v1')`,
  });

/** Settings of `createWorker`, checked at construction; errors name the option (`worker.runtimes`). */
export const workerSettingsSchema = z.strictObject({
  /** Where manifests, snapshots and inputs are read and outputs and results written: the engine's storage. */
  storage: seam('StorageProviderV1'),
  /** Public keys a dispatch manifest may be signed with (the engine signer's). */
  trustedKeys: z.array(publicKeyRecordSchema).min(1, "must hold at least one key (the engine signer's public key)"),
  /** Runtime adapters by name: `command`, or an agent adapter's name (`claude-code`). */
  runtimes: z
    .record(z.string().min(1), seam('RuntimeAdapterV1'))
    .refine((runtimes) => Object.keys(runtimes).length > 0, 'must name at least one runtime adapter'),
  /** The folder attempts get their working folders in; the system temporary folder by default. */
  workRoot: z.string().min(1, 'must not be empty').optional(),
  /** Keep each attempt's folder (workspace and git directory) after it ends, to debug it. */
  keepWorkDirectory: z.boolean().default(false),
  /** PATH the runtime gets, unless the manifest's env sets one. */
  path: z.string().min(1, 'must not be empty').default('/usr/local/bin:/usr/bin:/bin'),
  /** Largest `output.json` accepted, in bytes. */
  maxOutputBytes: z.int().min(0).max(1_073_741_824).default(1_048_576),
  /**
   * File systems of a fixed size mounted in each attempt's folder (its workspace, the sandbox's
   * /tmp), so that what an attempt writes is bounded: see AttemptMounts. None by default.
   */
  attemptMounts: z
    .custom<AttemptMounts>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        ['mount', 'unmount', 'limitReached'].every((name) => typeof (value as Record<string, unknown>)[name] === 'function'),
      'must be an AttemptMounts (mount, unmount, limitReached)',
    )
    .optional(),
  /**
   * The host's way of laying each attempt's workspace over a snapshot it keeps extracted (see
   * WorkspaceLayers): none by default, and then every attempt extracts its snapshot.
   */
  workspaceLayers: z
    .custom<WorkspaceLayers>(
      (value) => typeof value === 'object' && value !== null && typeof (value as WorkspaceLayers).mount === 'function',
      'must be a WorkspaceLayers (mount)',
    )
    .optional(),
  /**
   * Whether an agent attempt's forwarder to the model gateway also listens on 127.0.0.1 of this
   * process's network namespace: for runtimes that share it (no sandbox, or a container that is
   * itself the sandbox). Off by default: a sandboxed runtime reaches the forwarder's Unix socket
   * through its relay, an in-process one (openai-compatible) directly, and nothing on the host's
   * loopback answers for the attempt (any user or web page on the host could reach it there).
   */
  gatewayLoopback: z.boolean().default(false),
  /** What every allow-listed attempt's egress proxy is started with (ADR 0049): limits, name servers, extra trust. */
  egress: workerEgressSettingsSchema,
  logger: z.custom<Logger>((value) => typeof value === 'object' && value !== null, 'must be a logger (pino-shaped: debug, info, warn, error)').optional(),
});

export type WorkerSettings = Omit<
  z.input<typeof workerSettingsSchema>,
  'storage' | 'trustedKeys' | 'runtimes' | 'logger' | 'attemptMounts' | 'workspaceLayers'
> & {
  readonly attemptMounts?: AttemptMounts;
  readonly workspaceLayers?: WorkspaceLayers;
  readonly storage: StorageProviderV1;
  readonly trustedKeys: readonly PublicKeyRecord[];
  readonly runtimes: Readonly<Record<string, RuntimeAdapterV1>>;
  readonly logger?: Logger;
};

/** What happened to an attempt, gathered while it runs and written once as its result record. */
interface AttemptState {
  failure?: CairnError;
  runtime?: RuntimeResult;
  timedOut: boolean;
  cancelled: boolean;
  /** A limit of the host's that the attempt reached (memory, disk): it ended the attempt, as a timeout does. */
  limitReached?: CairnError;
  /** Disk limits that refused a write at some moment, whether or not that ended the attempt. */
  limitsHit?: readonly LimitHit[];
  patch?: { readonly digest: ResultArtifacts['stdout']; readonly filesChanged: number; readonly bytes: number };
  /** The egress record of an allow-listed network (its artifact) and what the history says of it. */
  egress?: { readonly digest: ResultArtifacts['stdout']; readonly summary: EgressSummary };
  output?: ResultArtifacts['stdout'];
  /** A candidate's check over its patch (ADR 0053). */
  check?: CandidateCheckResult;
  /** The warm environment laid under the workspace, and its setup's log as stored (ADR 0056). */
  environment?: { readonly record: AttemptEnvironment; readonly log: ResultArtifacts['stdout']; readonly egress?: ResultArtifacts['stdout'] };
}

/**
 * The task harness every executor runs (on the host for the local executor, as the container's
 * entrypoint on Fargate). `run(task)` carries one attempt from its signed manifest to its result
 * record; see the package README for the steps and the safety rules.
 */
export class Worker {
  readonly #settings: z.output<typeof workerSettingsSchema>;
  readonly #storage: StorageProviderV1;
  readonly #blobs: BlobStore;
  readonly #trustedKeys: readonly TrustedKey[];
  /** Delegated manifest keys already verified through their statements, by key id. */
  readonly #delegates = new Map<string, TrustedKey>();
  readonly #runtimes: Readonly<Record<string, RuntimeAdapterV1>>;
  readonly #workRoot: string;

  constructor(settings: WorkerSettings) {
    this.#settings = parseSettings(workerSettingsSchema, settings, 'worker');
    this.#storage = settings.storage;
    this.#blobs = new BlobStore(settings.storage);
    this.#runtimes = settings.runtimes;
    this.#workRoot = this.#settings.workRoot ?? tmpdir();
    this.#trustedKeys = this.#settings.trustedKeys.map((record, index) => {
      try {
        return trustedKeyFrom(record, `worker.trustedKeys.${index}`);
      } catch (error) {
        const path = `worker.trustedKeys.${index}`;
        throw new CairnError('CAIRN_CONFIG_INVALID', `[cairn] [worker] invalid settings: "${path}" ${(error as Error).message}`, {
          path,
          issues: [{ code: 'CAIRN_CONFIG_INVALID', path, message: (error as Error).message }],
          cause: error,
        });
      }
    });
  }

  /**
   * Runs one attempt and returns its result record, also written to `results/<executionId>.json`.
   * Never throws for what went wrong with the attempt (a bad manifest, an input that does not apply,
   * a refused patch, a runtime that cannot start): that is the record's `failure`. Throws only for
   * a task envelope that names no attempt, or when storage fails so that no record can be written.
   * `signal` cancels: the runtime is stopped and the record says `cancelled`. A task whose record
   * is already stored (for the same manifest) is not run again: the stored record is returned.
   */
  async run(task: TaskEnvelope, signal?: AbortSignal): Promise<ResultRecord> {
    // What the attempt waited for storage (an outage waited out), for its result and history.
    const waits: RetryWait[] = [];
    return recordRetryWaits(waits, () => this.#run(task, waits, signal));
  }

  async #run(task: TaskEnvelope, waits: readonly RetryWait[], signal?: AbortSignal): Promise<ResultRecord> {
    const startedAt = new Date().toISOString();
    parsePayload(taskEnvelopeSchema, task, 'task envelope');
    const stored = await this.#storedResult(task);
    if (stored) return stored;
    const opened = await openTaskManifest(this.#storage, task, this.#trustedKeys, this.#delegates);
    const manifest = 'manifest' in opened ? opened.manifest : undefined;
    const identity = attemptIdentity(task.executionId, manifest, 'failure' in opened ? opened.unverified : undefined);
    if (!identity) {
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        `Cannot report on execution ${JSON.stringify(task.executionId)}: its manifest failed (${'failure' in opened ? opened.failure.message : ''}) and the id is not <runId>/<itemId>/<attempt>.`,
        {
          path: 'executionId',
        },
      );
    }
    const state: AttemptState = { timedOut: false, cancelled: false };
    const named = manifest ? namedSecrets(manifest.secretNames, task.secrets) : { secrets: {}, missing: [] };
    const secrets = named.secrets;
    const maxLogBytes = manifest?.limits.maxLogBytes ?? 0;
    // Only a verified attempt runs anything, so only it has live output to show.
    const live = manifest ? new LiveLogWriter(this.#storage, task.executionId, { intervalMs: liveLogIntervalMs, logger: this.#settings.logger }) : undefined;
    const logs = { stdout: new LogCapture('stdout', maxLogBytes, secrets, live), stderr: new LogCapture('stderr', maxLogBytes, secrets, live) };
    if (!manifest) {
      state.failure = (opened as { failure: CairnError }).failure;
    } else if (named.missing.length > 0) {
      const plural = named.missing.length > 1;
      state.failure = new CairnError(
        'CAIRN_SECRET_UNAVAILABLE',
        `The task does not carry the secret${plural ? 's' : ''} ${named.missing.join(', ')} that the manifest names; nothing was run. Set ${plural ? 'them' : 'it'} on the engine.`,
        {
          path: 'secrets',
        },
      );
    } else if (signal?.aborted) {
      state.cancelled = true;
    } else {
      await this.#attempt(manifest, secrets, logs, state, signal, task.gateway, task.traceContext);
    }
    await live?.close();
    const artifacts: ResultArtifacts = {
      ...(state.patch ? { patch: state.patch.digest } : {}),
      stdout: await this.#blobs.store(logs.stdout.finish(), 'text/plain'),
      stderr: await this.#blobs.store(logs.stderr.finish(), 'text/plain'),
      ...(state.output ? { output: state.output } : {}),
      ...(state.egress ? { egress: state.egress.digest } : {}),
      ...(state.environment ? { environmentLog: state.environment.log } : {}),
      ...(state.environment?.egress ? { environmentEgress: state.environment.egress } : {}),
    };
    const failure = attemptFailureOf({ ...state, ...(manifest ? { timeoutMs: manifest.limits.timeoutMs } : {}), stderrTail: logs.stderr.tail() }, secrets);
    const record: ResultRecord = {
      version: 'cairn.result/v1',
      ...identity,
      manifestDigest: task.manifestDigest,
      outcome: outcomeOf(state),
      exitCode: state.runtime?.exitCode ?? null,
      startedAt,
      finishedAt: new Date().toISOString(),
      artifacts,
      ...(state.patch ? { patchStats: { filesChanged: state.patch.filesChanged, bytes: state.patch.bytes } } : {}),
      ...(failure ? { failure } : {}),
      ...(state.limitsHit && state.limitsHit.length > 0 ? { limitsHit: state.limitsHit } : {}),
      ...(state.egress ? { egress: state.egress.summary } : {}),
      ...storageWaitsOf(waits),
      ...(state.check ? { check: state.check } : {}),
      ...(state.environment ? { environment: state.environment.record } : {}),
    };
    const recordBytes = canonicalJsonBytes(parsePayload(resultRecordSchema, record, 'result record'));
    // The attempt is done: a full disk delays its record, never turns it into a failure.
    await whileStorageFull(() => this.#storage.put(resultKey(task.executionId), recordBytes, { contentType: 'application/json' }), {
      onWait: (error) =>
        this.#settings.logger?.error(
          { executionId: task.executionId, error: String(error) },
          'the storage is full: the result record is written once there is room',
        ),
    });
    // The result record now leads to the stored logs, which begin with what the live log held.
    await live?.remove();
    this.#settings.logger?.info(
      { executionId: task.executionId, outcome: record.outcome, exitCode: record.exitCode, ...(record.failure ? { failure: record.failure.code } : {}) },
      'attempt finished',
    );
    return record;
  }

  /** Prepares, runs and captures a verified attempt, recording into `state` what happened. */
  async #attempt(
    manifest: DispatchManifest,
    secrets: Record<string, string>,
    logs: { stdout: LogCapture; stderr: LogCapture },
    state: AttemptState,
    signal: AbortSignal | undefined,
    gateway: TaskGateway | undefined,
    traceContext: TaskTraceContext | undefined,
  ): Promise<void> {
    // A merge is the worker's own work (it runs no program of the spec's): no adapter, no sandbox.
    const merge = manifest.runtime.kind === 'merge' ? manifest.runtime : undefined;
    const runtimeName = manifest.runtime.kind === 'agent' ? manifest.runtime.adapter : manifest.runtime.kind;
    const runtime = this.#runtimes[runtimeName];
    if (!runtime && !merge) {
      state.failure = new CairnError(
        'CAIRN_RUNTIME_FAILED',
        `This worker has no runtime adapter ${JSON.stringify(runtimeName)} (it has ${Object.keys(this.#runtimes).join(', ')}); nothing was run. Add it to worker.runtimes or send the item to an executor that has it.`,
        {
          path: 'runtime',
        },
      );
      return;
    }
    let attempt: AttemptWorkspace | undefined;
    let started = false;
    try {
      await mkdir(this.#workRoot, { recursive: true });
      // A disk with no room for the workspace is the machine's failure, not the item's: wait for room.
      const waitForRoom = (error: unknown) =>
        this.#settings.logger?.error({ executionId: manifest.executionId, error: String(error) }, 'the disk is full: the attempt goes on once there is room');
      const host = { mounts: this.#settings.attemptMounts, layers: this.#settings.workspaceLayers };
      attempt = await whileStorageFull(() => prepareAttempt(manifest, this.#blobs, this.#workRoot, host, secrets), {
        onWait: waitForRoom,
        signal,
        directory: this.#workRoot,
      });
      this.#settings.logger?.debug(
        { executionId: manifest.executionId, directory: attempt.directory, files: attempt.snapshotEntries, layered: attempt.layered },
        'workspace prepared',
      );
      const { environment } = attempt;
      if (environment) {
        const { digest, built, setupMs } = environment;
        state.environment = {
          record: { digest: digest as AttemptEnvironment['digest'], built, setupMs },
          log: await this.#blobs.store(await environment.log(), 'text/plain'),
          ...(environment.egress ? { egress: await this.#blobs.store(await environment.egress(), 'application/x-ndjson') } : {}),
        };
      }
      started = true;
      const result = merge
        ? await this.#merge(merge, manifest, attempt, logs, state, signal)
        : await this.#runRuntime(runtime!, manifest, attempt, secrets, logs, state, signal, gateway, traceContext);
      if (result) state.runtime = result;
      if (state.cancelled) return;
      // A merge that conflicted merged nothing: what git left in the workspace is not its change.
      if (merge && isCairnError(state.failure, 'CAIRN_MERGE_CONFLICT')) return;
      // A runtime that filled a file system and exited before the next look was still over it.
      if (!state.limitReached) {
        const reached = await attempt.limitReached().catch(() => undefined);
        if (reached && (!state.timedOut || isLostWorkspace(reached))) state.limitReached = reached;
      }
      // Writes into the workspace that the kernel dropped (the disk under it is full): what is there
      // is not what the item left, so nothing of it is read or kept, and that (not a timeout that
      // came meanwhile) is what the attempt says.
      if (isLostWorkspace(state.limitReached)) {
        state.timedOut = false;
        return;
      }
      const output = await this.#readOutput(attempt, secrets).catch((error: unknown) => {
        state.failure ??= asCairnError(error, 'CAIRN_RUNTIME_FAILED', 'could not read the output');
        return undefined;
      });
      if (output) state.output = await this.#blobs.store(output, 'application/json');
      const workspace = attempt;
      const captured = await whileStorageFull(
        () =>
          capturePatch(workspace, {
            maxPatchBytes: manifest.limits.maxPatchBytes,
            secrets,
            exclude: [outputFileName, inputsFolderName],
            pathRules: manifest.limits.pathRules ?? 'portable',
          }),
        { onWait: waitForRoom, signal, directory: this.#workRoot },
      );
      // A write-back that failed while the capture read the workspace, or waited for room to store it.
      const lost = await attempt.limitReached().catch(() => undefined);
      if (isLostWorkspace(lost)) {
        state.limitReached = lost;
        state.timedOut = false;
        delete state.output;
        return;
      }
      if (captured.patch) state.patch = { digest: await this.#blobs.store(captured.patch, 'text/x-diff'), ...captured.stats };
      // A candidate that succeeded with a patch is checked (ADR 0053); one that did not cannot win.
      const { candidate } = manifest;
      if (candidate && captured.patch && outcomeOf(state) === 'succeeded') {
        state.check = await runCandidateCheck({
          manifest: { ...manifest, candidate },
          patch: captured.patch,
          blobs: this.#blobs,
          workRoot: this.#workRoot,
          host,
          runtime: this.#runtimes['command'],
          path: this.#settings.path,
          signal,
        });
        // The check's output goes to the attempt's log (redacted as any), not to the audit log.
        if (state.check.tail !== '') logs.stdout.write(Buffer.from(`[check] output (its end):\n${state.check.tail}\n`));
        logs.stdout.write(
          Buffer.from(
            `[check] ${state.check.passed ? 'passed' : 'failed'} (exit ${state.check.exitCode ?? 'none'}${state.check.score === null ? '' : `, score ${state.check.score}`})\n`,
          ),
        );
      }
    } catch (error) {
      state.failure ??= started
        ? asCairnError(error, 'CAIRN_RUNTIME_FAILED', 'could not capture the results')
        : asCairnError(error, 'CAIRN_EXECUTOR_START_FAILED', 'could not prepare the workspace');
    } finally {
      // Before the mounts go: a limit the item reached and freed is only known while they are there.
      if (attempt) state.limitsHit = await attempt.limitsHit();
      if (attempt && this.#settings.keepWorkDirectory)
        this.#settings.logger?.info({ executionId: manifest.executionId, directory: attempt.directory }, 'kept the work directory');
      else
        await attempt
          ?.remove()
          .catch((error: unknown) =>
            this.#settings.logger?.warn({ directory: attempt?.directory, error: (error as Error).message }, 'could not remove the work directory'),
          );
    }
  }

  /**
   * Runs the runtime under the wall-clock limit, the caller's cancel signal and the attempt's
   * mounts: a full one stops the runtime as its timeout does, and so is the attempt's end.
   */
  async #runRuntime(
    runtime: RuntimeAdapterV1,
    manifest: DispatchManifest,
    attempt: AttemptWorkspace,
    secrets: Record<string, string>,
    logs: { stdout: LogCapture; stderr: LogCapture },
    state: AttemptState,
    signal: AbortSignal | undefined,
    gateway: TaskGateway | undefined,
    traceContext: TaskTraceContext | undefined,
  ): Promise<RuntimeResult | undefined> {
    const controller = new AbortController();
    // A limit that ends the attempt as it runs (a spent budget, a stall): the first one is its failure.
    const stop = (reached: CairnError) => {
      if (controller.signal.aborted) return;
      state.limitReached ??= reached;
      controller.abort();
    };
    const stall = manifest.limits.stallTimeoutMs === undefined ? undefined : new StallWatch(manifest.limits.stallTimeoutMs, stop);
    let forwarder: GatewayForwarder | undefined;
    if (gateway !== undefined) {
      try {
        forwarder = await GatewayForwarder.start(
          gateway,
          { activity: () => stall?.saw('model call'), refused: stop },
          { loopback: this.#settings.gatewayLoopback },
        );
      } catch (error) {
        state.failure ??= asCairnError(error, 'CAIRN_RUNTIME_FAILED', 'could not open the way to the model gateway');
        stall?.stop();
        return undefined;
      }
    }
    const network = manifest.limits.network;
    let egress: AttemptEgress | undefined;
    if (typeof network === 'object') {
      try {
        egress = await AttemptEgress.start(network, secrets, this.#settings.egress, forwarder?.port);
      } catch (error) {
        state.failure ??= asCairnError(error, 'CAIRN_RUNTIME_FAILED', "could not start the attempt's egress proxy");
        stall?.stop();
        await forwarder?.close();
        return undefined;
      }
    }
    const stopAborting = abortOnTimeoutOrCancel(controller, manifest.limits.timeoutMs, state, signal);
    let looking = false;
    const mountWatch = this.#settings.attemptMounts
      ? setInterval(() => {
          if (looking || controller.signal.aborted) return;
          looking = true;
          attempt
            .limitReached()
            .then((reached) => {
              if (!reached || controller.signal.aborted) return;
              state.limitReached ??= reached;
              controller.abort();
            })
            .catch(() => undefined)
            .finally(() => (looking = false));
        }, limitLookIntervalMs)
      : undefined;
    try {
      const result = await runtime.run({
        workspace: attempt.workspace,
        spec: manifest.runtime,
        env: {
          ...runtimeEnvironment(attempt.workspace, this.#settings.path, manifest.env, secrets, traceContext),
          ...(Object.keys(manifest.inputs).length > 0 ? { CAIRN_INPUTS: join(attempt.workspace, inputsFolderName) } : {}),
          ...(forwarder ? gatewayEnvironment(forwarder.url) : {}),
          // Last: the proxy variables win over the item's own, and a brokered secret is its placeholder.
          ...(egress ? egress.environment() : {}),
        },
        signal: controller.signal,
        sinks: {
          stdout: (chunk) => {
            stall?.saw('output');
            logs.stdout.write(chunk);
          },
          stderr: (chunk) => {
            stall?.saw('output');
            logs.stderr.write(chunk);
          },
        },
        // Not in RuntimeInvocation V1 yet: the command runtime hands them to its `launch` hook.
        // An allow-list's sandbox has no network of its own: the proxy's door is its only way out.
        network: network === true,
        ...(forwarder ? { gateway: { port: forwarder.port, socket: forwarder.socketPath } } : {}),
        ...(egress ? { egress: egress.door } : {}),
      } as Parameters<RuntimeAdapterV1['run']>[0]);
      // Not in RuntimeResult V1 yet: a command runtime whose launch hook's limit ended it says so.
      const reported = (result as CommandRunResult).limitReached;
      if (reported && !state.timedOut && !state.cancelled) state.limitReached ??= reported;
      return result;
    } catch (error) {
      state.failure ??= asCairnError(error, 'CAIRN_RUNTIME_FAILED', `the ${runtime.kind} runtime failed`);
      return undefined;
    } finally {
      stall?.stop();
      await forwarder?.close();
      clearInterval(mountWatch);
      stopAborting();
      if (egress) {
        const { ndjson, summary } = await egress.finish();
        state.egress = { digest: await this.#blobs.store(ndjson, 'application/x-ndjson'), summary };
      }
    }
  }

  /**
   * Merges the patches of the spec's items into the workspace (see mergePatches), in this process:
   * it runs nothing of the item's, so it needs no sandbox. Stops between patches on the item's
   * timeout or a cancel. A conflict is the attempt's failure, its every hunk in the stderr log.
   */
  async #merge(
    spec: MergeRuntimeSpec,
    manifest: DispatchManifest,
    attempt: AttemptWorkspace,
    logs: { stdout: LogCapture; stderr: LogCapture },
    state: AttemptState,
    signal: AbortSignal | undefined,
  ): Promise<RuntimeResult | undefined> {
    const controller = new AbortController();
    const stopAborting = abortOnTimeoutOrCancel(controller, manifest.limits.timeoutMs, state, signal);
    try {
      const outcome = await mergePatches({
        git: attempt.git,
        spec,
        inputs: manifest.inputs,
        fetch: (input, what) => this.#blobs.fetch(input.digest, what),
        log: (line) => logs.stdout.write(Buffer.from(`${line}\n`)),
        signal: controller.signal,
      });
      if ('aborted' in outcome) return { exitCode: null, aborted: true };
      if ('conflict' in outcome) {
        logs.stderr.write(Buffer.from(`${outcome.report}\n`));
        state.failure ??= outcome.conflict;
        return undefined;
      }
      logs.stdout.write(
        Buffer.from(
          `[merge] merged ${outcome.merged.length} of ${spec.from.length} patches${outcome.skipped.length > 0 ? ` (${outcome.skipped.length} changed nothing)` : ''}\n`,
        ),
      );
      return { exitCode: 0, aborted: false };
    } catch (error) {
      state.failure ??= asCairnError(error, 'CAIRN_RUNTIME_FAILED', 'could not merge the patches');
      return undefined;
    } finally {
      stopAborting();
    }
  }

  /** `output.json`, canonical, refused when it holds a secret value. */
  async #readOutput(attempt: AttemptWorkspace, secrets: Record<string, string>): Promise<Uint8Array | undefined> {
    // The capture refuses a replaced workspace with its reason; nothing is read from one here.
    if (!(await attempt.isIntact())) return undefined;
    const output = await readOutputJson(attempt.workspace, this.#settings.maxOutputBytes);
    if (!output) return undefined;
    const text = Buffer.from(output);
    for (const [name, value] of Object.entries(secrets)) {
      if (value !== '' && (text.includes(value) || text.includes(JSON.stringify(value).slice(1, -1)))) {
        throw new CairnError('CAIRN_PAYLOAD_INVALID', `The runtime's ${outputFileName} holds the value of secret ${name}; it was not stored.`, {
          path: outputFileName,
          details: { rule: 'secret' },
        });
      }
    }
    return output;
  }

  /** The record already stored for this execution and manifest, if a previous run wrote one. */
  async #storedResult(task: TaskEnvelope): Promise<ResultRecord | undefined> {
    const bytes = await this.#storage.get(resultKey(task.executionId));
    if (bytes === null) return undefined;
    try {
      const record = parsePayload(resultRecordSchema, JSON.parse(new TextDecoder().decode(bytes)), `result record ${resultKey(task.executionId)}`);
      return record.manifestDigest === task.manifestDigest ? (record as ResultRecord) : undefined;
    } catch {
      return undefined;
    }
  }
}

/** How often a running attempt's new output is written to its live log, at most. */
const liveLogIntervalMs = 250;

/**
 * How often a running attempt's mounts are looked at: the kernel already refuses the writes past
 * them; this is how soon the attempt ends for it (a statfs per mount, so it costs nothing).
 */
const limitLookIntervalMs = 250;

/** Creates a worker (see `Worker`). */
export function createWorker(settings: WorkerSettings): Worker {
  return new Worker(settings);
}

/** Whether a mounts' report says writes into the workspace were lost (CAIRN_ATTEMPT_HOST_DISK_FULL: the disk under it is full). */
function isLostWorkspace(reached: CairnError | undefined): reached is CairnError {
  return reached !== undefined && isCairnError(reached, 'CAIRN_ATTEMPT_HOST_DISK_FULL');
}

function outcomeOf(state: AttemptState): ExecutionOutcome {
  if (state.cancelled) return 'cancelled';
  if (state.timedOut) return 'timed-out';
  if (state.limitReached || state.failure) return 'failed';
  return state.runtime?.exitCode === 0 ? 'succeeded' : 'failed';
}

/** A CairnError as it is, anything else (a git or file-system failure) under `code`. */
function asCairnError(error: unknown, code: 'CAIRN_RUNTIME_FAILED' | 'CAIRN_EXECUTOR_START_FAILED', doing: string): CairnError {
  if (isCairnError(error)) return error;
  return new CairnError(code, `The worker ${doing}: ${(error as Error).message ?? String(error)}`, { cause: error });
}

/**
 * Aborts an attempt's runtime when its time is up (`state.timedOut`) or its caller cancels it
 * (`state.cancelled`); returns what stops that, for when the runtime has ended.
 */
function abortOnTimeoutOrCancel(
  controller: AbortController,
  timeoutMs: number,
  state: { timedOut: boolean; cancelled: boolean },
  signal: AbortSignal | undefined,
): () => void {
  const timer = setTimeout(() => {
    state.timedOut = true;
    controller.abort();
  }, timeoutMs);
  const cancel = () => {
    state.cancelled = true;
    controller.abort();
  };
  signal?.addEventListener('abort', cancel, { once: true });
  if (signal?.aborted) cancel();
  return () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', cancel);
  };
}
