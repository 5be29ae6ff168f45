import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ManifestNetworkAllowList } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';
import { AttemptEgress, layerChanges, type WorkerEgressSettings } from '@cairn/worker';
import { runCommand } from '../fork-server/run-command.ts';
import { AttemptVolumes } from '../sandbox/attempt-volumes.ts';
import type { SandboxLimits } from '../sandbox/bubblewrap-command.ts';
import { idmappedBind } from '../sandbox/idmapped-mount.ts';
import { mountOverlay } from '../sandbox/overlay-workspaces.ts';
import { sandboxLauncher } from '../sandbox/sandbox-launcher.ts';
import { undoEach } from '../sandbox/undo-each.ts';
import { commandError, unmountAtOnce, unmountPath } from '../sandbox/unmount-path.ts';
import type { BuiltEnvironment } from './environment-cache.ts';

/** The most of a setup's output kept (its end): enough to see why it failed, bounded for the cache and the error. */
const logBytes = 1_048_576;
/** What a failure carries of the log: its end. */
const failureLogBytes = 16_384;

/** What one setup is run with. */
export interface EnvironmentSetupRequest {
  /** The snapshot tree (the cache's, root's): the setup's lower layer. */
  readonly tree: string;
  readonly argv: readonly string[];
  readonly timeoutMs: number;
  /** What the setup may write into the workspace: the size of its upper layer's file system. */
  readonly diskBytes: number;
  /** A folder of the holder's (removed with it), where the setup's mounts are made. */
  readonly scratch: string;
  /** Where what it wrote is copied, owned by root: the environment layer. */
  readonly output: string;
  /** The setup's sandbox uid (the attempt's own: its sandboxes run after it). */
  readonly uid: number;
  /** The item's network: none, or an allow-list its own egress proxy enforces (true is refused: no sandbox network for a layer every attempt shares). */
  readonly network?: ManifestNetworkAllowList;
  /** The item's secrets, for the credentials its allow-list brokers (never shown to the setup). */
  readonly secrets?: Readonly<Record<string, string>>;
}

/** How setups are run on this host: the executor's sandbox settings. */
export interface EnvironmentSetupHost {
  readonly limits: SandboxLimits;
  readonly memoryBytes?: number;
  readonly bwrap?: string;
  /** The size of a setup's /tmp (a tmpfs, counted against its memory too). */
  readonly tmpBytes: number;
  readonly egress: WorkerEgressSettings;
}

/**
 * Runs an environment's setup once (ADR 0056): an overlay whose lower layer is the snapshot tree
 * (idmapped to the setup's uid) and whose upper layer lives on a file system of `diskBytes`, the
 * setup in a bubblewrap sandbox over it with the executor's limits, no model gateway, and the
 * item's egress allow-list when it has one. When it succeeds, the upper layer is copied to
 * `output` and given to root (attempts see it through an idmapped mount, as the snapshot), and
 * its paths listed (as an attempt's change is: `layerChanges`), and, behind an allow-list, its
 * proxy's egress record returned (NDJSON, one line per connection, as an attempt's). Throws
 * CAIRN_ENVIRONMENT_SETUP_FAILED (exit status), CAIRN_ENVIRONMENT_SETUP_TIMED_OUT or
 * CAIRN_ENVIRONMENT_DISK_EXCEEDED, each with the log's end in `details.log`. Everything it
 * mounted is unmounted and `scratch` removed, whatever happens.
 */
export async function runEnvironmentSetup(request: EnvironmentSetupRequest, host: EnvironmentSetupHost): Promise<BuiltEnvironment> {
  const folders = { directory: request.scratch, workspace: join(request.scratch, 'workspace') };
  const lower = join(request.scratch, 'snapshot');
  const volume = join(request.scratch, 'volume');
  const upper = join(volume, 'upper');
  const undo: (() => Promise<unknown>)[] = [];
  const started = Date.now();
  let egress: AttemptEgress | undefined;
  const volumes = new AttemptVolumes({ workspaceBytes: request.diskBytes, tmpBytes: host.tmpBytes });
  try {
    for (const folder of [request.scratch, folders.workspace, lower, volume]) await mkdir(folder, { mode: 0o711 });
    // The sandbox's uid passes through the holder's folder to its workspace and /tmp (as the attempt's own will).
    await chmod(dirname(request.scratch), 0o711);
    await volumes.mount(folders, volume);
    undo.push(() => volumes.unmount(folders));
    await idmappedBind(request.tree, lower, request.uid);
    undo.push(() => unmountPath(lower));
    await mkdir(upper, { mode: 0o755 });
    await chown(upper, request.uid, request.uid);
    await mkdir(join(volume, 'work'));
    await mountOverlay({ lower, upper, work: join(volume, 'work'), merged: folders.workspace });
    undo.push(() => unmountPath(folders.workspace));
    if (request.network) egress = await AttemptEgress.start(request.network, request.secrets ?? {}, host.egress, undefined);
    const launch = sandboxLauncher({
      limits: host.limits,
      uids: { first: request.uid, count: 1 },
      ...(host.bwrap ? { bwrap: host.bwrap } : {}),
      ...(host.memoryBytes ? { memoryBytes: host.memoryBytes } : {}),
      volumes,
      // The upper layer is the uid's already, and the tree shows as its: nothing to hand over.
      layers: { handOver: () => request.uid },
    })(request.argv, {
      workspace: folders.workspace,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', CI: '1', ...(egress ? egress.environment() : {}) },
      network: false,
      ...(egress ? { egress: egress.door } : {}),
    });
    const ended = await runLaunched(launch, request.timeoutMs);
    const log = ended.log;
    const failure = (code: 'CAIRN_ENVIRONMENT_SETUP_FAILED' | 'CAIRN_ENVIRONMENT_SETUP_TIMED_OUT' | 'CAIRN_ENVIRONMENT_DISK_EXCEEDED', why: string) =>
      new CairnError(code, `The environment setup ${JSON.stringify(request.argv.join(' '))} ${why}. Its log ends: ${tail(log, 2_000)}`, {
        path: 'environment.setup',
        details: { log: tail(log, failureLogBytes), argv: [...request.argv] },
      });
    const full = await volumes.limitReached(folders).catch(() => undefined);
    if (full && isCairnError(full, 'CAIRN_ATTEMPT_DISK_EXCEEDED'))
      throw failure('CAIRN_ENVIRONMENT_DISK_EXCEEDED', `filled its disk limit of ${request.diskBytes} bytes (environment.diskLimit)`);
    if (ended.timedOut) throw failure('CAIRN_ENVIRONMENT_SETUP_TIMED_OUT', `ran past its ${request.timeoutMs / 1_000} s (environment.timeoutSeconds)`);
    const limit = launch.limitReached?.({ exitCode: ended.exitCode, signal: ended.signal });
    if (limit) throw failure('CAIRN_ENVIRONMENT_SETUP_FAILED', `was stopped: ${limit.message}`);
    if (ended.exitCode !== 0) throw failure('CAIRN_ENVIRONMENT_SETUP_FAILED', `exited with ${ended.exitCode ?? `signal ${ended.signal}`}`);
    const paths = await layerChanges({ upper, lower, merged: folders.workspace });
    // Copied whole (whiteouts, the kernel's opaque marks, modes and times), then root's: the
    // idmapped mount shows root's files as each attempt's own.
    await run('cp', ['-a', '--', `${upper}/.`, request.output]);
    await run('chown', ['-R', '-h', '0:0', request.output]);
    const setupMs = Date.now() - started;
    // What the setup reached through its proxy: kept with the layer, as an attempt's egress record is with its result.
    const record = egress ? Buffer.from((await egress.finish()).ndjson) : undefined;
    egress = undefined;
    return { paths, log, setupMs, ...(record ? { egress: record } : {}) };
  } finally {
    await egress?.close().catch(() => undefined);
    await unmountAtOnce([folders.workspace, lower, volume], request.scratch);
    await undoEach(undo.reverse());
    await rm(request.scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function run(file: string, args: readonly string[]): Promise<void> {
  try {
    await runCommand(file, args, { env: { PATH: '/usr/bin:/bin' } });
  } catch (error) {
    throw new Error(`${file} ${args.join(' ')} failed: ${commandError(error)}`, { cause: error });
  }
}

/**
 * Spawns a sandbox launch as the command runtime does (its own process group, a lifeline on fd 3),
 * its output and errors into one log (the end kept), its group killed at `timeoutMs`.
 */
function runLaunched(
  launch: { readonly command: string; readonly args: readonly string[]; readonly env?: Readonly<Record<string, string>> },
  timeoutMs: number,
): Promise<{ exitCode: number | null; signal: string | null; timedOut: boolean; log: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(launch.command, launch.args, {
      env: launch.env ?? { PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let chunks: Buffer[] = [];
    let kept = 0;
    const keep = (chunk: Buffer) => {
      chunks.push(chunk);
      kept += chunk.length;
      if (kept > 2 * logBytes) {
        const joined = Buffer.concat(chunks);
        chunks = [joined.subarray(joined.length - logBytes)];
        kept = logBytes;
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Ended meanwhile.
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const log = Buffer.concat(chunks);
      resolve({ exitCode, signal, timedOut, log: log.length > logBytes ? log.subarray(log.length - logBytes) : log });
    });
  });
}

function tail(log: Buffer, bytes: number): string {
  return log.subarray(Math.max(0, log.length - bytes)).toString('utf8');
}
