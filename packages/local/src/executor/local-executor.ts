import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { ExecutionHandle, ExecutionStatus, ExecutorV1, Logger, PublicKeyRecord, RuntimeAdapterV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { CairnError, parseSettings, publicKeyRecordSchema } from '@cairn/protocol';
import {
  claudeCodeRuntimeSettingsSchema,
  createClaudeCodeRuntime,
  createCommandRuntime,
  createOpenAiCompatibleRuntime,
  createWorker,
  openAiCompatibleRuntimeSettingsSchema,
  type ClaudeCodeRuntimeSettings,
  type CommandLauncher,
  type OpenAiCompatibleRuntimeSettings,
  type Worker,
} from '@cairn/worker';
import { z } from 'zod';
import { removeIdleSandboxCgroups, sandboxLauncher } from '../sandbox/sandbox-launcher.ts';
import { defaultSandboxUids } from '../sandbox/sandbox-uids.ts';
import { ExecutionStateFiles, type ExecutionState } from './execution-state.ts';
import { currentProcess, isRunning, type ProcessIdentity } from './process-identity.ts';
import { ownerFolderName, ownerOfFolder } from './work-folders.ts';

const seam = (name: string) =>
  z.custom<object>((value) => typeof value === 'object' && value !== null && (value as { specificationVersion?: unknown }).specificationVersion === 'v1', {
    message: `must be a ${name} (an object with specificationVersion 'v1')`,
  });

/** Settings of `createLocalExecutor`, checked at construction; errors name the option. */
export const localExecutorSettingsSchema = z.strictObject({
  /** The engine's storage: manifests, snapshots and inputs are read there, outputs and results written. */
  storage: seam('StorageProviderV1'),
  /** Keys a dispatch manifest may be signed with (the engine signer's public key). */
  trustedKeys: z.array(publicKeyRecordSchema).min(1, "must hold the engine signer's public key"),
  /** Where each execution's state file is kept, so handles survive a restart. */
  stateDirectory: z.string().min(1, 'must not be empty'),
  /**
   * Where attempts get their working folders (created if missing), in a folder per server process
   * (`cairn-owner-<pid>-<start>-<boot>`; those of processes that are gone are removed at start);
   * the system temporary folder by default. It and its parents must be traversable by others (o+x): bubblewrap starts as the
   * sandbox's uid and must reach the workspace to bind it (inside, nothing but the workspace is seen).
   */
  workRoot: z.string().min(1, 'must not be empty').optional(),
  /** Keep each attempt's folder after it ends, to debug it. */
  keepWorkDirectory: z.boolean().default(false),
  /**
   * `bubblewrap` (default): every runtime runs in a bubblewrap sandbox. `none` runs it as a plain
   * process of this server's user — for development only: it warns, and nothing is isolated.
   */
  sandbox: z.enum(['bubblewrap', 'none']).default('bubblewrap'),
  /** Limits inside each sandbox. */
  limits: z
    .strictObject({
      processes: z.int().min(8).max(100_000).default(256),
      openFiles: z.int().min(64).max(1_048_576).default(4_096),
      cpuSeconds: z.int().min(1).max(604_800).default(3_600),
      fileBytes: z.int().min(1_048_576).default(1_073_741_824),
      /** Address space of each process: below 1 GiB Node cannot start. */
      addressSpaceBytes: z.int().min(1_073_741_824).default(8_589_934_592),
      /** Memory of the whole sandbox (a memory cgroup, where the machine lets one be made). */
      memoryBytes: z.int().min(67_108_864).default(4_294_967_296),
    })
    .prefault({}),
  /** Unprivileged uids given to sandboxes in turn (one per sandbox, so process limits are per sandbox). */
  uids: z.strictObject({ first: z.int().min(1_000).max(4_000_000_000), count: z.int().min(1).max(1_000_000) }).default({ ...defaultSandboxUids }),
  /**
   * An OpenAI-compatible endpoint for the `openai-compatible` agent adapter, with the settings of
   * `createOpenAiCompatibleRuntime` but `launch`: its model requests go out from this process on the
   * host, its `exec` tool runs in the sandbox. Without it, items naming that adapter fail.
   */
  openAiCompatible: openAiCompatibleRuntimeSettingsSchema.omit({ launch: true }).optional(),
  /**
   * Settings of the `claude-code` adapter (`createClaudeCodeRuntime`'s but `launch`), which is
   * always there: its `claude` process runs in the sandbox, so the CLI must be under /usr (the only
   * program tree inside) or be given as an absolute `binary` or `package`, whose folder is then bound
   * read-only into each of its sandboxes.
   */
  claudeCode: claudeCodeRuntimeSettingsSchema.omit({ launch: true }).optional(),
  /**
   * More runtime adapters by name. They get no sandbox from the executor: only give ones that
   * isolate themselves (or run nothing).
   */
  runtimes: z.record(z.string().min(1), seam('RuntimeAdapterV1')).default({}),
  bwrap: z.string().min(1).default('/usr/bin/bwrap'),
  logger: z.custom<Logger>((value) => typeof value === 'object' && value !== null, 'must be a logger (debug, info, warn, error)').optional(),
});

export type LocalExecutorSettings = Omit<
  z.input<typeof localExecutorSettingsSchema>,
  'storage' | 'trustedKeys' | 'runtimes' | 'logger' | 'openAiCompatible' | 'claudeCode'
> & {
  readonly openAiCompatible?: Omit<OpenAiCompatibleRuntimeSettings, 'launch'>;
  readonly claudeCode?: Omit<ClaudeCodeRuntimeSettings, 'launch'>;
  readonly storage: StorageProviderV1;
  readonly trustedKeys: readonly PublicKeyRecord[];
  readonly runtimes?: Readonly<Record<string, RuntimeAdapterV1>>;
  readonly logger?: Logger;
};

const provider = 'local';

/**
 * The host folders the Claude Code CLI needs inside its sandbox: a `package` folder, or the folder
 * of an absolute `binary` (and of the file it links to); none for a program under /usr, which every
 * sandbox has, or one looked up on PATH (the runtime's PATH inside the sandbox is under /usr).
 */
function claudeCodeFolders(settings: Omit<ClaudeCodeRuntimeSettings, 'launch'> | undefined): string[] {
  const inSandboxAlready = (path: string) => path === '/usr' || path.startsWith('/usr/');
  const target = settings?.package ?? (settings?.binary !== undefined && isAbsolute(settings.binary) ? settings.binary : undefined);
  if (target === undefined) return [];
  const folder = settings?.package ?? dirname(target);
  const folders = [folder];
  try {
    const real = realpathSync(target);
    folders.push(settings?.package !== undefined ? real : dirname(real));
  } catch {
    // Not there (yet): the runtime says so when an item needs it.
  }
  return [...new Set(folders)].filter((path) => !inSandboxAlready(path));
}

/**
 * Executions running in this process, across instances (a "restarted" instance in the same process
 * must still be able to cancel what an earlier one started): state directory + id → its abort.
 */
const runningHere = new Map<string, AbortController>();

/**
 * ExecutorV1 for one Linux machine: the worker runs on the host (in this process), and only the
 * runtime runs inside a bubblewrap sandbox as an unprivileged uid. Each execution has a state file
 * naming the process that runs it (pid, start time, boot): a handle is only the execution id, so a
 * restarted server re-attaches to what it finds there — exited tasks with their outcome, and tasks
 * whose process died (their sandboxes die with it) as `unknown`, which the engine records as lost.
 */
export class LocalExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = provider;
  readonly capabilities: { readonly cancel: true; readonly pushesCompletions: true; readonly isolation: 'bubblewrap' | 'none' };
  readonly #settings: z.output<typeof localExecutorSettingsSchema>;
  readonly #worker: Worker;
  readonly #states: ExecutionStateFiles;
  readonly #owner: ProcessIdentity;
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();

  constructor(settings: LocalExecutorSettings) {
    this.#settings = parseSettings(localExecutorSettingsSchema, settings, 'local.executor');
    // Declared, so the engine signs into every manifest whether its task ran in a sandbox.
    this.capabilities = { cancel: true, pushesCompletions: true, isolation: this.#settings.sandbox };
    if (this.#settings.sandbox === 'bubblewrap' && !existsSync(this.#settings.bwrap)) {
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `bubblewrap is not installed (no ${this.#settings.bwrap}): install it with \`apt-get install -y bubblewrap\`, or set local.executor.sandbox to 'none' for development only.`,
        {
          path: 'local.executor.bwrap',
        },
      );
    }
    if (this.#settings.sandbox === 'none') {
      settings.logger?.warn({ sandbox: 'none' }, 'the local executor runs tasks WITHOUT a sandbox: development only, nothing is isolated');
    }
    this.#owner = currentProcess();
    // Attempts get their folders in one of this process's own, so a later server can tell the
    // folders of a dead one (its attempts died with it) from those of a live one it may re-attach to.
    const workRoot = this.#settings.workRoot ?? tmpdir();
    mkdirSync(workRoot, { recursive: true, mode: 0o711 });
    sweepDeadOwners(workRoot, settings.logger);
    const ownWorkRoot = join(workRoot, ownerFolderName(this.#owner));
    mkdirSync(ownWorkRoot, { recursive: true, mode: 0o711 });
    const {
      limits: { memoryBytes, ...limits },
      uids,
      bwrap,
    } = this.#settings;
    // Cgroups of sandboxes whose reaper was killed with its server (a live sandbox's cannot be removed).
    if (this.#settings.sandbox === 'bubblewrap') removeIdleSandboxCgroups({ uids });
    const sandboxLaunch = this.#settings.sandbox === 'bubblewrap' ? sandboxLauncher({ limits, uids, bwrap, memoryBytes }) : undefined;
    const launch: CommandLauncher | undefined = sandboxLaunch;
    // The Claude Code CLI installed outside /usr is shown to its sandboxes (read-only), and only to theirs.
    const claudeFolders = claudeCodeFolders(settings.claudeCode);
    const claudeLaunch: CommandLauncher | undefined =
      sandboxLaunch && claudeFolders.length > 0 ? (argv, context) => sandboxLaunch(argv, { ...context, readOnlyPaths: claudeFolders }) : launch;
    this.#worker = createWorker({
      storage: settings.storage,
      trustedKeys: settings.trustedKeys,
      runtimes: {
        command: createCommandRuntime(launch ? { launch } : {}),
        // The runtimes get the settings as given (their own defaults apply), checked above.
        'claude-code': createClaudeCodeRuntime({ ...settings.claudeCode, ...(claudeLaunch ? { launch: claudeLaunch } : {}) }),
        ...(settings.openAiCompatible
          ? { 'openai-compatible': createOpenAiCompatibleRuntime({ ...settings.openAiCompatible, ...(launch ? { launch } : {}) }) }
          : {}),
        ...(settings.runtimes ?? {}),
      },
      workRoot: ownWorkRoot,
      keepWorkDirectory: this.#settings.keepWorkDirectory,
      ...(settings.logger ? { logger: settings.logger } : {}),
    });
    this.#states = new ExecutionStateFiles(this.#settings.stateDirectory);
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const handle: ExecutionHandle = { executor: provider, executionId: task.executionId };
    // Idempotent: an execution with a state file was started already (by this process or one before).
    if (this.#states.read(task.executionId)) return handle;
    this.#states.write({ executionId: task.executionId, owner: this.#owner, startedAt: new Date().toISOString(), status: 'running' });
    const controller = new AbortController();
    runningHere.set(this.#runningKey(task.executionId), controller);
    void this.#execute(task, controller.signal);
    return handle;
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const state = this.#states.read(this.#executionIdOf(handle));
    if (!state) return { state: 'unknown' };
    return statusOf(state);
  }

  async cancel(handle: ExecutionHandle): Promise<void> {
    runningHere.get(this.#runningKey(this.#executionIdOf(handle)))?.abort();
  }

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  async #execute(task: TaskEnvelope, signal: AbortSignal): Promise<void> {
    let exited: Pick<ExecutionState, 'outcome' | 'exitCode' | 'reason'>;
    try {
      const record = await this.#worker.run(task, signal);
      exited = { outcome: record.outcome, exitCode: record.exitCode };
    } catch (error) {
      // The worker could not even write a result (storage down): the attempt failed, and says why here.
      this.#settings.logger?.error(
        { executionId: task.executionId, error: error instanceof CairnError ? error.code : String(error) },
        'the worker failed without a result',
      );
      exited = {
        outcome: 'failed',
        exitCode: null,
        reason: `the worker wrote no result record: ${error instanceof CairnError ? `${error.code}: ${error.message}` : String(error)}`,
      };
    }
    runningHere.delete(this.#runningKey(task.executionId));
    const previous = this.#states.read(task.executionId);
    if (!previous) {
      // Someone removed the state directory under a running task: nothing can be recorded.
      this.#settings.logger?.warn({ executionId: task.executionId }, 'the execution state file is gone; its exit is not recorded');
      return;
    }
    const state: ExecutionState = { ...previous, status: 'exited', ...exited };
    await this.#writeExit(state);
    const status = statusOf(state);
    for (const listener of this.#listeners) listener(task.executionId, status);
  }

  // The exit is written before anyone is told of it (a restart reads it back). A disk that is full
  // (or failing) must neither lose it nor throw from this unawaited task into the host process: the
  // write is tried again, 100 ms doubling to 5 s, until it goes through; until then the task reads
  // as running, which it is as far as anyone can know.
  async #writeExit(state: ExecutionState): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        this.#states.write(state);
        return;
      } catch (error) {
        if (tries === 0)
          this.#settings.logger?.error(
            { executionId: state.executionId, error: String(error) },
            "writing the execution's exit failed; retrying until it is written",
          );
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(tries, 6))));
      }
    }
  }

  #executionIdOf(handle: ExecutionHandle): string {
    if (
      typeof handle !== 'object' ||
      handle === null ||
      handle.executor !== provider ||
      typeof handle.executionId !== 'string' ||
      handle.executionId.length === 0
    ) {
      throw new CairnError(
        'CAIRN_EXECUTOR_HANDLE_INVALID',
        `This handle was not issued by the local executor (executor: ${JSON.stringify((handle as { executor?: unknown } | null)?.executor)}); pass the handle start() returned.`,
        { path: 'handle' },
      );
    }
    return handle.executionId;
  }

  #runningKey(executionId: string): string {
    return `${this.#settings.stateDirectory}\u0000${executionId}`;
  }
}

/** Removes the attempt folders of servers that are gone (every attempt of theirs died with them). */
function sweepDeadOwners(workRoot: string, logger: Logger | undefined): void {
  for (const name of readdirSync(workRoot)) {
    const owner = ownerOfFolder(name);
    if (!owner || isRunning(owner)) continue;
    try {
      rmSync(join(workRoot, name), { recursive: true, force: true, maxRetries: 3 });
    } catch (error) {
      logger?.warn({ directory: join(workRoot, name), error: (error as Error).message }, 'could not remove the work folder of a server that is gone');
    }
  }
}

function statusOf(state: ExecutionState): ExecutionStatus {
  if (state.status === 'exited') {
    return {
      state: 'exited',
      outcome: state.outcome ?? 'failed',
      ...(state.exitCode === undefined || state.exitCode === null ? {} : { exitCode: state.exitCode }),
      ...(state.reason === undefined ? {} : { reason: state.reason }),
    };
  }
  // A task whose process is gone did not finish: its sandbox died with that process.
  return isRunning(state.owner) ? { state: 'running' } : { state: 'unknown' };
}

/** Builds a local executor; throws CAIRN_CONFIG_INVALID naming every bad option. */
export function createLocalExecutor(settings: LocalExecutorSettings): LocalExecutor {
  return new LocalExecutor(settings);
}
