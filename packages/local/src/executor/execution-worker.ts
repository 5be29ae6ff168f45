import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { Logger, PublicKeyRecord, RuntimeAdapterV1, StorageProviderV1 } from '@cairn/core';
import {
  createClaudeCodeRuntime,
  createCodexRuntime,
  createCommandRuntime,
  createOpenAiCompatibleRuntime,
  createWorker,
  type ClaudeCodeRuntimeSettings,
  type CodexRuntimeSettings,
  type CommandLauncher,
  type OpenAiCompatibleRuntimeSettings,
  type Worker,
  type WorkerEgressSettings,
} from '@cairn/worker';
import { AttemptVolumes } from '../sandbox/attempt-volumes.ts';
import { OverlayWorkspaces } from '../sandbox/overlay-workspaces.ts';
import { sandboxLauncher } from '../sandbox/sandbox-launcher.ts';
import { SandboxUids } from '../sandbox/sandbox-uids.ts';
import { SnapshotCache } from '../snapshots/snapshot-cache.ts';
import { EnvironmentCache } from '../environments/environment-cache.ts';
import { EnvironmentLayers } from '../environments/environment-layers.ts';
import type { SandboxLimits } from '../sandbox/bubblewrap-command.ts';

/**
 * How the local executor's worker is made, in plain data (what a supervisor process is handed on
 * its stdin): the same worker runs in a supervisor or, when it cannot, in the server's process.
 */
export interface ExecutionWorkerOptions {
  readonly trustedKeys: readonly PublicKeyRecord[];
  readonly sandbox: 'bubblewrap' | 'none';
  readonly limits: SandboxLimits & { readonly memoryBytes: number; readonly workspaceBytes: number; readonly tmpBytes: number };
  readonly uids: { readonly first: number; readonly count: number };
  readonly bwrap: string;
  readonly keepWorkDirectory: boolean;
  /** Every allow-listed attempt's egress proxy settings (the worker's `egress`). */
  readonly egress: WorkerEgressSettings;
  /**
   * The host's snapshot cache, where each attempt's workspace is laid over a snapshot extracted
   * once (OverlayWorkspaces); absent where that cannot be done (the executor found out at start),
   * and then each attempt extracts its snapshot.
   */
  readonly snapshotCache?: { readonly directory: string; readonly maxBytes: number; readonly maxAgeMs: number; readonly checkEveryMs: number };
  readonly openAiCompatible?: Omit<OpenAiCompatibleRuntimeSettings, 'launch'>;
  readonly claudeCode?: Omit<ClaudeCodeRuntimeSettings, 'launch'>;
  readonly codex?: Omit<CodexRuntimeSettings, 'launch'>;
}

/** The environment layers' folder in the snapshot cache's: a dot name, which the snapshot cache's eviction passes over. */
const environmentsFolderName = '.environments';

/**
 * The worker of one process: every runtime in a bubblewrap sandbox (unless `sandbox: 'none'`),
 * attempts in folders under `workRoot`, each with its workspace and its sandboxes' /tmp on file
 * systems of a fixed size (AttemptVolumes; not with `sandbox: 'none'`, which bounds nothing). `runtimes`
 * are objects, so only an in-process worker has them.
 */
export function createExecutionWorker(
  options: ExecutionWorkerOptions,
  seams: {
    readonly storage: StorageProviderV1;
    readonly workRoot: string;
    readonly runtimes?: Readonly<Record<string, RuntimeAdapterV1>>;
    readonly logger?: Logger;
    /**
     * A folder of root's where the attempts' workspace file system is kept as a template, made once
     * per size and written into each attempt's image (VolumeTemplates); without it, mkfs makes each.
     * Shared by the processes that name it, so it outlives any one of them.
     */
    readonly volumeTemplates?: string;
  },
): Worker {
  const {
    limits: { memoryBytes, workspaceBytes, tmpBytes, ...limits },
    uids,
    bwrap,
  } = options;
  const volumes = options.sandbox === 'bubblewrap' ? new AttemptVolumes({ workspaceBytes, tmpBytes }, seams.volumeTemplates) : undefined;
  const layers =
    volumes && options.snapshotCache
      ? new OverlayWorkspaces({
          cache: new SnapshotCache({ ...options.snapshotCache, ...(seams.logger ? { logger: seams.logger } : {}) }),
          uids: new SandboxUids(uids.first, uids.count),
          volumes,
          // Warm environments beside the snapshot trees, within the same bounds (ADR 0056).
          environments: new EnvironmentLayers(
            new EnvironmentCache({
              directory: join(options.snapshotCache.directory, environmentsFolderName),
              maxBytes: options.snapshotCache.maxBytes,
              maxAgeMs: options.snapshotCache.maxAgeMs,
              ...(seams.logger ? { logger: seams.logger } : {}),
            }),
            { limits, memoryBytes, bwrap, tmpBytes, egress: options.egress },
          ),
        })
      : undefined;
  const sandboxLaunch = volumes ? sandboxLauncher({ limits, uids, bwrap, memoryBytes, volumes, ...(layers ? { layers } : {}) }) : undefined;
  const launch: CommandLauncher | undefined = sandboxLaunch;
  // An agent CLI installed outside /usr is shown to its sandboxes (read-only), and only to theirs.
  const launchWith = (folders: string[]): CommandLauncher | undefined =>
    sandboxLaunch && folders.length > 0 ? (argv, context) => sandboxLaunch(argv, { ...context, readOnlyPaths: folders }) : launch;
  const claudeLaunch = launchWith(agentCliFolders(options.claudeCode));
  const codexLaunch = launchWith(agentCliFolders(options.codex));
  return createWorker({
    storage: seams.storage,
    trustedKeys: [...options.trustedKeys],
    runtimes: {
      command: createCommandRuntime(launch ? { launch } : {}),
      // The runtimes get the settings as given (their own defaults apply), checked by the executor.
      'claude-code': createClaudeCodeRuntime({ ...options.claudeCode, ...(claudeLaunch ? { launch: claudeLaunch } : {}) }),
      ...(options.codex ? { codex: createCodexRuntime({ ...options.codex, ...(codexLaunch ? { launch: codexLaunch } : {}) }) } : {}),
      ...(options.openAiCompatible
        ? { 'openai-compatible': createOpenAiCompatibleRuntime({ ...options.openAiCompatible, ...(launch ? { launch } : {}) }) }
        : {}),
      ...(seams.runtimes ?? {}),
    },
    workRoot: seams.workRoot,
    keepWorkDirectory: options.keepWorkDirectory,
    egress: options.egress,
    // Unsandboxed runtimes share this process's network namespace: only they need the forwarder on its loopback.
    gatewayLoopback: volumes === undefined,
    ...(volumes ? { attemptMounts: volumes } : {}),
    ...(layers ? { workspaceLayers: layers } : {}),
    ...(seams.logger ? { logger: seams.logger } : {}),
  });
}

/**
 * The host folders an agent CLI (Claude Code, Codex) needs inside its sandbox: a `package` folder,
 * or the folder of an absolute `binary` (and of the file it links to); none for a program under
 * /usr, which every sandbox has, or one looked up on PATH (the runtime's PATH inside is under /usr).
 */
function agentCliFolders(settings: { readonly package?: string | undefined; readonly binary?: string | undefined } | undefined): string[] {
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
