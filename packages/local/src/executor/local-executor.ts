import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ExecutionHandle, ExecutionStatus, ExecutorV1, Logger, PublicKeyRecord, RuntimeAdapterV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { CairnError, parseSettings, publicKeyRecordSchema } from '@cairn/protocol';
import {
  claudeCodeRuntimeSettingsSchema,
  codexRuntimeSettingsSchema,
  openAiCompatibleRuntimeSettingsSchema,
  type ClaudeCodeRuntimeSettings,
  type CodexRuntimeSettings,
  type OpenAiCompatibleRuntimeSettings,
  type Worker,
  workerEgressSettingsSchema,
} from '@cairn/worker';
import { z } from 'zod';
import { openFilesHardLimit } from '../sandbox/open-files-hard-limit.ts';
import { workspaceLayersProblem } from '../sandbox/overlay-workspaces.ts';
import { removeIdleSandboxCgroups } from '../sandbox/sandbox-launcher.ts';
import { unmountUnder } from '../sandbox/unmount-under.ts';
import { defaultSandboxUids, SandboxUids } from '../sandbox/sandbox-uids.ts';
import type { LocalStorageProvider } from '../storage/local-storage-provider.ts';
import { isNoRoom } from '../supervisor/no-room.ts';
import { startSupervisor } from '../supervisor/start-supervisor.ts';
import type { SupervisorInput, TaskStorage } from '../supervisor/supervisor-input.ts';
import { ExecutionStateFiles, type ExecutionState } from './execution-state.ts';
import { createExecutionWorker, type ExecutionWorkerOptions } from './execution-worker.ts';
import { currentProcess, isRunning, liveProcessGroups, type ProcessIdentity } from './process-identity.ts';
import { keptMarker, ownerFolderName, ownerOfFolder, volumeTemplatesFolderName } from './work-folders.ts';

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
  /**
   * How each execution's supervisor process opens the storage (an object cannot cross a process):
   * derived for a local directory; for any other, a module exporting a factory and its plain
   * settings (`{ kind: 'module', module: <path or file URL>, export: 'createS3StorageProvider',
   * settings }`). Without one, tasks run in this process and die with it.
   */
  taskStorage: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('local'), root: z.string().min(1, 'must not be empty') }),
      z.strictObject({
        kind: z.literal('module'),
        module: z.string().min(1, 'must not be empty'),
        export: z.string().min(1, 'must not be empty'),
        settings: z.unknown(),
      }),
    ])
    .optional(),
  /** Where each execution's state file (and its supervisor's log) is kept, so handles survive a restart. */
  stateDirectory: z.string().min(1, 'must not be empty'),
  /**
   * Where attempts get their working folders (created if missing), in a folder per process running
   * them — each execution's supervisor (`cairn-owner-<pid>-<start>-<boot>`; those of processes that
   * are gone are removed at start, but kept attempts of `keepWorkDirectory`);
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
      /**
       * Open files of each sandboxed process; at most the server's own hard limit (`ulimit -Hn`),
       * which a sandbox cannot raise: a lower one is used instead, and the executor says so once.
       */
      openFiles: z.int().min(64).max(1_048_576).default(4_096),
      cpuSeconds: z.int().min(1).max(604_800).default(3_600),
      fileBytes: z.int().min(1_048_576).default(1_073_741_824),
      /** Address space of each process: below 1 GiB Node cannot start. */
      addressSpaceBytes: z.int().min(1_073_741_824).default(8_589_934_592),
      /**
       * Memory of the whole sandbox (a memory cgroup, where the machine lets one be made); an item
       * the kernel kills a process of for it fails with CAIRN_ATTEMPT_MEMORY_EXCEEDED.
       */
      memoryBytes: z.int().min(67_108_864).default(4_294_967_296),
      /**
       * What an attempt may write into its workspace: a file system of this size of its own (a sparse
       * image, loop-mounted), whose own overhead comes out of it. Over the snapshot cache it holds the
       * attempt's layer (its inputs, new files, and every file it changes, copied whole); without the
       * cache, the extracted snapshot too. An item that fills it fails with
       * CAIRN_ATTEMPT_DISK_EXCEEDED naming it (a change whose copy does not fit fails with the
       * program's own "No space left on device").
       */
      workspaceBytes: z.int().min(16_777_216).max(17_592_186_044_416).default(4_294_967_296),
      /**
       * What the sandboxes of an attempt may keep in /tmp: a tmpfs of this size, in memory, so it
       * counts against `memoryBytes` too. Filling it fails the item with CAIRN_ATTEMPT_DISK_EXCEEDED.
       */
      tmpBytes: z.int().min(1_048_576).max(1_099_511_627_776).default(1_073_741_824),
    })
    .prefault({}),
  /**
   * Snapshots extracted once per host (in `directory`, `<workRoot>/cairn-snapshots` by default),
   * each attempt's workspace an overlay over its snapshot: preparing an attempt and reading its
   * patch then cost the same at 100 files as at 40,000. Needs root, overlayfs and idmapped mounts
   * (Linux 5.12+); where the executor finds it cannot lay workspaces, it says so once and every
   * attempt extracts its snapshot as without the cache. `enabled: false` turns it off.
   */
  snapshotCache: z
    .strictObject({
      enabled: z.boolean().default(true),
      directory: z.string().min(1, 'must not be empty').optional(),
      /** What the cached snapshots may take on disk together; the least recently used go first beyond it. */
      maxBytes: z.int().min(0).default(10_737_418_240),
      /** A snapshot no attempt used for this long is removed, whatever room is left. */
      maxAgeHours: z.number().positive().default(168),
      /**
       * A cached snapshot found sound is used this long without being looked at again (a look
       * stats every file of it); 0 looks at every use.
       */
      checkEverySeconds: z.number().min(0).default(10),
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
   * What each allow-listed attempt's egress proxy is started with (ADR 0049; the worker's `egress`):
   * connection and byte limits, the name servers it asks, CA certificates (PEM) it and the sandbox
   * trust besides the system's, and this host's own public addresses, never connected to. Only
   * with `sandbox: 'bubblewrap'`, which confines an item to its proxy.
   */
  egress: workerEgressSettingsSchema,
  /**
   * Settings of the `codex` adapter (`createCodexRuntime`'s but `launch`): the Codex CLI in the
   * sandbox, its native binary under /usr or given as an absolute `binary`, whose folder is then
   * bound read-only into each of its sandboxes. Without it, items naming that adapter fail.
   */
  codex: codexRuntimeSettingsSchema.omit({ launch: true }).optional(),
  /**
   * More runtime adapters by name. They get no sandbox from the executor: only give ones that
   * isolate themselves (or run nothing). Objects cannot reach a supervisor process: with any, tasks
   * run in this process and die with it.
   */
  runtimes: z.record(z.string().min(1), seam('RuntimeAdapterV1')).default({}),
  bwrap: z.string().min(1).default('/usr/bin/bwrap'),
  logger: z.custom<Logger>((value) => typeof value === 'object' && value !== null, 'must be a logger (debug, info, warn, error)').optional(),
});

export type LocalExecutorSettings = Omit<
  z.input<typeof localExecutorSettingsSchema>,
  'storage' | 'trustedKeys' | 'runtimes' | 'logger' | 'openAiCompatible' | 'claudeCode' | 'codex'
> & {
  readonly codex?: Omit<CodexRuntimeSettings, 'launch'>;
  readonly openAiCompatible?: Omit<OpenAiCompatibleRuntimeSettings, 'launch'>;
  readonly claudeCode?: Omit<ClaudeCodeRuntimeSettings, 'launch'>;
  readonly storage: StorageProviderV1;
  readonly trustedKeys: readonly PublicKeyRecord[];
  readonly runtimes?: Readonly<Record<string, RuntimeAdapterV1>>;
  readonly logger?: Logger;
};

const provider = 'local';

/** The snapshot cache's folder in the work root, unless `snapshotCache.directory` names another. */
const snapshotCacheFolderName = 'cairn-snapshots';

/**
 * Executions running in this process, across instances (a "restarted" instance in the same process
 * must still be able to cancel what an earlier one started): state directory + id → its abort.
 * Only tasks that cannot have a supervisor (see `taskStorage`, `runtimes`) run here.
 */
const runningHere = new Map<string, AbortController>();

/** How often executions whose exit is awaited are looked at besides the directory watch (which may miss events). */
const pollIntervalMs = 2_000;

/**
 * ExecutorV1 for one Linux machine. Each execution runs in a supervisor process of its own,
 * detached from the server (its own session), which runs the worker on the host and the runtime in
 * a bubblewrap sandbox as an unprivileged uid, and writes the outcome to the execution's state
 * file. A handle is only the execution id: a server started later — after an upgrade, a crash, or
 * another server on this machine taking over — re-attaches to what it finds there: running while
 * the supervisor lives, exited with its outcome, and `unknown` (lost) only if the supervisor died
 * without one. Storage that cannot be reopened by a supervisor, or in-process `runtimes`, make
 * tasks run in the server's process instead, dying with it.
 */
export class LocalExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = provider;
  readonly capabilities: {
    readonly cancel: true;
    readonly pushesCompletions: true;
    readonly isolation: 'bubblewrap' | 'none';
    readonly networkAllowLists: boolean;
  };
  readonly #settings: z.output<typeof localExecutorSettingsSchema>;
  readonly #states: ExecutionStateFiles;
  readonly #owner: ProcessIdentity;
  readonly #workRoot: string;
  readonly #workerOptions: ExecutionWorkerOptions;
  /** How supervisors open the storage; undefined when tasks run in this process. */
  readonly #taskStorage: TaskStorage | undefined;
  /** The in-process worker, for tasks that cannot have a supervisor. */
  #worker: Worker | undefined;
  readonly #makeWorker: () => Worker;
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();
  /** Running executions (started here or re-attached) whose exit is pushed to the listeners. */
  readonly #awaited = new Set<string>();
  /** Cancels asked for while this instance was still starting the execution's supervisor. */
  readonly #cancelWhenStarted = new Set<string>();
  /** The sandbox uids, one per supervised execution in turn. */
  readonly #uids: SandboxUids;
  /** The snapshot cache supervisors lay workspaces over, once the executor found it can (see `snapshotCache`). */
  readonly #snapshotCache: Promise<ExecutionWorkerOptions['snapshotCache']>;
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;

  constructor(settings: LocalExecutorSettings) {
    this.#settings = parseSettings(localExecutorSettingsSchema, settings, 'local.executor');
    // Declared, so the engine signs into every manifest whether its task ran in a sandbox.
    // Only a sandbox keeps an item to its egress proxy: unsandboxed, it shares this process's network.
    this.capabilities = {
      cancel: true,
      pushesCompletions: true,
      isolation: this.#settings.sandbox,
      networkAllowLists: this.#settings.sandbox === 'bubblewrap',
    };
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
    // Attempts get their folders in one of their process's own, so a later server can tell the
    // folders of a dead one (its attempts died with it) from those of a live one it may re-attach to.
    this.#workRoot = this.#settings.workRoot ?? tmpdir();
    mkdirSync(this.#workRoot, { recursive: true, mode: 0o711 });
    sweepDeadOwners(this.#workRoot, settings.logger);
    const { limits, uids, bwrap, keepWorkDirectory, sandbox, egress } = this.#settings;
    // Cgroups of sandboxes whose reaper was killed with its supervisor (a live sandbox's cannot be removed).
    if (sandbox === 'bubblewrap') removeIdleSandboxCgroups({ uids });
    // Supervisors inherit this process's hard limit, and no sandbox can be given more: said once here.
    const hardOpenFiles = sandbox === 'bubblewrap' ? openFilesHardLimit() : undefined;
    if (hardOpenFiles !== undefined && hardOpenFiles < limits.openFiles) {
      settings.logger?.warn(
        { openFiles: hardOpenFiles, requested: limits.openFiles, setting: 'local.executor.limits.openFiles' },
        `items get at most ${hardOpenFiles} open files, this process's hard limit, not the ${limits.openFiles} of limits.openFiles: raise the server's hard limit (ulimit -Hn, LimitNOFILE= of its systemd unit) to give them more`,
      );
    }
    this.#workerOptions = {
      trustedKeys: settings.trustedKeys,
      sandbox,
      limits,
      uids,
      bwrap,
      keepWorkDirectory,
      egress,
      ...(settings.openAiCompatible ? { openAiCompatible: settings.openAiCompatible } : {}),
      ...(settings.claudeCode ? { claudeCode: settings.claudeCode } : {}),
      ...(settings.codex ? { codex: settings.codex } : {}),
    };
    this.#uids = new SandboxUids(uids.first, uids.count);
    // Found out while the server starts, not when its first run's items are being started.
    this.#snapshotCache = this.#layeredSnapshotCache();
    const inProcessRuntimes = Object.keys(settings.runtimes ?? {}).length > 0;
    this.#taskStorage = inProcessRuntimes ? undefined : (this.#settings.taskStorage ?? localDirectoryOf(settings.storage));
    if (!this.#taskStorage) {
      settings.logger?.warn(
        { reason: inProcessRuntimes ? 'local.executor.runtimes' : 'local.executor.taskStorage' },
        inProcessRuntimes
          ? 'in-process runtimes are given: tasks run in the server process and are lost when it stops'
          : 'the storage is not a local directory and local.executor.taskStorage is not set: tasks run in the server process and are lost when it stops',
      );
    }
    this.#makeWorker = () => {
      const ownWorkRoot = join(this.#workRoot, ownerFolderName(this.#owner));
      mkdirSync(ownWorkRoot, { recursive: true, mode: 0o711 });
      return createExecutionWorker(this.#workerOptions, {
        storage: settings.storage,
        workRoot: ownWorkRoot,
        volumeTemplates: join(this.#workRoot, volumeTemplatesFolderName),
        ...(settings.runtimes ? { runtimes: settings.runtimes } : {}),
        ...(settings.logger ? { logger: settings.logger } : {}),
      });
    };
    if (!this.#taskStorage) this.#worker = this.#makeWorker();
    this.#states = new ExecutionStateFiles(this.#settings.stateDirectory);
  }

  /**
   * The snapshot cache's settings once a tiny workspace was laid in the work root as an attempt's
   * would be (in a mount namespace of its own: nothing stays mounted); undefined (said once in the
   * log) where that fails, or with the cache off or no sandbox.
   */
  async #layeredSnapshotCache(): Promise<ExecutionWorkerOptions['snapshotCache']> {
    const { snapshotCache, sandbox } = this.#settings;
    if (!snapshotCache.enabled || sandbox !== 'bubblewrap') return undefined;
    // Tried in this process's own folder: were it killed meanwhile, the next executor's sweep removes the scratch folder.
    const ownWorkRoot = join(this.#workRoot, ownerFolderName(this.#owner));
    mkdirSync(ownWorkRoot, { recursive: true, mode: 0o711 });
    const problem = await workspaceLayersProblem(ownWorkRoot);
    if (problem !== undefined) {
      this.#settings.logger?.warn(
        { setting: 'local.executor.snapshotCache', problem },
        `workspaces cannot be laid over cached snapshots here (${problem}): every attempt extracts its snapshot, at a cost that grows with its size`,
      );
      return undefined;
    }
    return {
      directory: resolve(snapshotCache.directory ?? join(this.#workRoot, snapshotCacheFolderName)),
      maxBytes: snapshotCache.maxBytes,
      maxAgeMs: snapshotCache.maxAgeHours * 3_600_000,
      checkEveryMs: snapshotCache.checkEverySeconds * 1_000,
    };
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const handle: ExecutionHandle = { executor: provider, executionId: task.executionId };
    // Idempotent: an execution with a state file was started already (by this process or one
    // before, or by another server on this machine at the same moment); its exit is awaited here.
    const claim: ExecutionState = { executionId: task.executionId, owner: this.#owner, startedAt: new Date().toISOString(), status: 'running' };
    if (!this.#states.claim(claim)) {
      const existing = this.#states.read(task.executionId);
      if (existing) this.#await(existing);
      return handle;
    }
    if (!this.#taskStorage) {
      const controller = new AbortController();
      runningHere.set(this.#runningKey(task.executionId), controller);
      void this.#execute(this.#worker ?? this.#makeWorker(), task, controller.signal);
      return handle;
    }
    const snapshotCache = await this.#snapshotCache;
    const input: SupervisorInput = {
      task,
      // Each supervisor is a process of its own: the uids are handed out here, one per execution in
      // turn (its sandboxes run one after another), so no two running sandboxes share one.
      worker: { ...this.#workerOptions, uids: { first: this.#uids.next(), count: 1 }, ...(snapshotCache ? { snapshotCache } : {}) },
      // Absolute: nothing of the supervisor may depend on where the server was started.
      stateDirectory: resolve(this.#states.directory),
      workRoot: resolve(this.#workRoot),
      storage: this.#taskStorage,
    };
    this.#awaited.add(task.executionId);
    try {
      const supervisor = await startSupervisor(input, this.#states.logPath(task.executionId));
      // The fastest news of its end, while this process lives; the watch covers the rest.
      supervisor.once('exit', () => this.#look(task.executionId));
      this.#watch();
      if (this.#cancelWhenStarted.delete(task.executionId)) supervisor.kill('SIGTERM');
    } catch (error) {
      this.#cancelWhenStarted.delete(task.executionId);
      this.#settings.logger?.error({ executionId: task.executionId, error: String(error) }, 'the supervisor of an execution could not start');
      // No room to take the execution over: the machine's failure, not the item's (see #unclaim).
      if (isNoRoom(error)) this.#unclaim(task.executionId, error);
      // The attempt never ran: it failed, and says why (a later start of the id answers the same).
      try {
        this.#states.write({
          ...claim,
          status: 'exited',
          outcome: 'failed',
          exitCode: null,
          reason: error instanceof CairnError ? `${error.code}: ${error.message}` : String(error),
        });
      } catch (writeError) {
        this.#unclaim(task.executionId, writeError);
      }
      this.#look(task.executionId);
    }
    return handle;
  }

  /**
   * Gives up the claim of an execution whose supervisor never took it over, and throws `error`.
   * Left in place, the claim would say the execution runs under this process, and the start the
   * engine tries again (it does, with the same id, when the error says the disk is full) would find
   * it and start nothing: the execution would read as running for as long as this process lives.
   * Removed (which needs no room), the next start claims it afresh and runs it.
   */
  #unclaim(executionId: string, error: unknown): never {
    this.#awaited.delete(executionId);
    if (this.#awaited.size === 0) this.#unwatch();
    try {
      this.#states.remove(executionId);
    } catch {
      // Nothing more can be done here: the error below says what went wrong.
    }
    throw error;
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const state = this.#states.read(this.#executionIdOf(handle));
    if (!state) return { state: 'unknown' };
    // A running execution this instance did not start (a previous server's) is re-attached: its exit is pushed too.
    this.#await(state);
    return this.#statusOf(state);
  }

  async cancel(handle: ExecutionHandle): Promise<void> {
    const executionId = this.#executionIdOf(handle);
    const inProcess = runningHere.get(this.#runningKey(executionId));
    if (inProcess) return inProcess.abort();
    const state = this.#states.read(executionId);
    if (!state || state.status !== 'running' || !isRunning(state.owner)) return;
    if (sameProcess(state.owner, this.#owner)) {
      // Still claimed by this process: its supervisor is being started, and is told once it is.
      this.#cancelWhenStarted.add(executionId);
      return;
    }
    this.#await(state);
    try {
      // The supervisor stops its sandbox and records the attempt cancelled.
      process.kill(state.owner.pid, 'SIGTERM');
    } catch (error) {
      // Ended between the look and the signal: its outcome is in its state file.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Awaits the exit of `state`'s execution if it is running (and its process alive). */
  #await(state: ExecutionState): void {
    if (state.status !== 'running' || this.#awaited.has(state.executionId) || runningHere.has(this.#runningKey(state.executionId))) return;
    if (!isRunning(state.owner)) return;
    this.#awaited.add(state.executionId);
    this.#watch();
  }

  /**
   * Watches the state directory while any exit is awaited: a supervisor's rename of its state file
   * is seen at once; a slow poll catches what a watch misses (events are best effort). Neither
   * keeps the process alive.
   */
  #watch(): void {
    if (this.#awaited.size === 0) return;
    if (!this.#watcher) {
      try {
        this.#watcher = watch(this.#states.directory, { persistent: false }, (_event, fileName) => {
          const executionId = fileName === null ? undefined : this.#states.executionIdOf(String(fileName));
          if (executionId !== undefined && this.#awaited.has(executionId)) this.#look(executionId);
        });
        this.#watcher.on('error', () => this.#unwatch());
      } catch {
        // No inotify left: the poll alone finds exits.
      }
    }
    this.#poll ??= setInterval(() => {
      for (const executionId of [...this.#awaited]) this.#look(executionId);
    }, pollIntervalMs).unref();
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    if (this.#awaited.size === 0) {
      clearInterval(this.#poll);
      this.#poll = undefined;
    }
  }

  /** Looks at an awaited execution: an exit is pushed once; one whose process died without an outcome is no longer awaited. */
  #look(executionId: string): void {
    if (!this.#awaited.has(executionId)) return;
    let state: ExecutionState | undefined;
    try {
      state = this.#states.read(executionId);
    } catch {
      return;
    }
    if (state?.status === 'running' && isRunning(state.owner)) return;
    this.#awaited.delete(executionId);
    if (this.#awaited.size === 0) this.#unwatch();
    // An exit, or a supervisor that died without recording an outcome (killed, out of memory): the
    // task died with it, and the engine is told now rather than finding out on a later inspection.
    if (state) this.#tell(executionId, this.#statusOf(state));
  }

  // What an execution's state file says of it; a task whose supervisor is gone did not finish (its
  // sandbox died with that process), and the answer says so, with where the supervisor's log is.
  #statusOf(state: ExecutionState): ExecutionStatus {
    if (state.status === 'exited') {
      return {
        state: 'exited',
        outcome: state.outcome ?? 'failed',
        ...(state.exitCode === undefined || state.exitCode === null ? {} : { exitCode: state.exitCode }),
        ...(state.reason === undefined ? {} : { reason: state.reason }),
      };
    }
    if (isRunning(state.owner)) return { state: 'running' };
    return {
      state: 'unknown',
      reason: `its supervisor (pid ${state.owner.pid}) ended without recording an outcome; its log: ${this.#states.logPath(state.executionId)}`,
    };
  }

  #tell(executionId: string, status: ExecutionStatus): void {
    for (const listener of this.#listeners) listener(executionId, status);
  }

  async #execute(worker: Worker, task: TaskEnvelope, signal: AbortSignal): Promise<void> {
    let exited: Pick<ExecutionState, 'outcome' | 'exitCode' | 'reason'>;
    try {
      const record = await worker.run(task, signal);
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
    this.#tell(task.executionId, this.#statusOf(state));
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

/**
 * Removes the attempt folders of processes that are gone, with everything they started in their
 * process group (every attempt of theirs died with them), and first the file systems mounted in
 * them (an attempt's workspace and /tmp), which a process killed mid-attempt could not unmount.
 */
function sweepDeadOwners(workRoot: string, logger: Logger | undefined): void {
  const names = readdirSync(workRoot);
  const groups = names.length > 0 ? liveProcessGroups() : new Set<number>();
  for (const name of names) {
    const owner = ownerOfFolder(name);
    if (!owner || isRunning(owner) || groups.has(owner.pid)) continue;
    // A supervisor that kept its attempt on purpose (keepWorkDirectory) marked its folder so.
    if (existsSync(join(workRoot, name, keptMarker))) continue;
    try {
      // Mount points are listed by their real path, which the attempts' folders were made under.
      const folder = join(workRoot, name);
      if (existsSync(folder)) unmountUnder(realpathSync(folder));
      rmSync(folder, { recursive: true, force: true, maxRetries: 3 });
    } catch (error) {
      logger?.warn({ directory: join(workRoot, name), error: (error as Error).message }, 'could not remove the work folder of a server that is gone');
    }
  }
}

/**
 * The directory of a local storage provider, which a supervisor reopens by its root; known by its
 * shape, not its class (a server may hold another copy of this package than the executor's).
 */
function localDirectoryOf(storage: StorageProviderV1): TaskStorage | undefined {
  const root = (storage as Partial<LocalStorageProvider>).root;
  return storage.provider === 'local-directory' && typeof root === 'string' && root.startsWith('/') ? { kind: 'local', root } : undefined;
}

function sameProcess(one: ProcessIdentity, other: ProcessIdentity): boolean {
  return one.pid === other.pid && one.startTicks === other.startTicks && one.bootId === other.bootId;
}

/** Builds a local executor; throws CAIRN_CONFIG_INVALID naming every bad option. */
export function createLocalExecutor(settings: LocalExecutorSettings): LocalExecutor {
  return new LocalExecutor(settings);
}
