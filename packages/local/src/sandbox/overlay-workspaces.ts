import { execFile } from 'node:child_process';
import { lchownSync, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { CairnError } from '@cairn/protocol';
import { layerChanges, type WorkspaceLayer, type WorkspaceLayerRequest, type WorkspaceLayers } from '@cairn/worker';
import type { SnapshotCache } from '../snapshots/snapshot-cache.ts';
import type { EnvironmentLayers, EnvironmentRequest } from '../environments/environment-layers.ts';
import { withoutEnvironmentPaths } from '../environments/without-environment-paths.ts';
import type { AttemptVolumes } from './attempt-volumes.ts';
import { idmappedBind, idmapScript } from './idmapped-mount.ts';
import type { SandboxUids } from './sandbox-uids.ts';
import { undoEach } from './undo-each.ts';
import { runCommand } from '../fork-server/run-command.ts';
import { commandError, unmountAtOnce, unmountPath } from './unmount-path.ts';

const run = promisify(execFile);

/**
 * Overlay options: no redirects (a folder renamed is copied, so the upper layer names every path
 * that changed), no metadata-only copy-up (a file in the upper layer holds its bytes), no index and
 * no inode translation (nothing here needs stable inodes across layers).
 */
const overlayOptions = 'redirect_dir=off,metacopy=off,index=off,xino=off';

/** Where an attempt's layers are kept in its folder. */
const folderNames = { snapshot: 'snapshot', layer: 'layer', environment: 'environment', lower: 'lower' } as const;

/** An attempt laid here: its sandboxes' uid, and its upper layer. */
interface LaidAttempt {
  readonly uid: number;
  readonly upper: string;
}

export interface OverlayWorkspacesOptions {
  readonly cache: SnapshotCache;
  /** The uids sandboxes take: each attempt gets one, which its snapshot tree is shown as owned by. */
  readonly uids: SandboxUids;
  /** The attempts' disk limits: the upper layer lives on the attempt's workspace file system. */
  readonly volumes?: AttemptVolumes;
  /** Environment layers (ADR 0056), laid between the snapshot and the attempt's own for a request that names one. */
  readonly environments?: EnvironmentLayers;
}

/**
 * Workspaces laid over the host's snapshot cache (WorkspaceLayers for the local executor): per
 * attempt, the cached tree is bound read-only and shown as owned by the attempt's sandbox uid (an
 * idmapped mount), and an overlay mounted on the workspace with it as the lower layer and a fresh
 * upper layer on the attempt's workspace file system (AttemptVolumes), so what the attempt writes
 * counts against its disk limit as before. Preparing costs a few mounts whatever the snapshot's
 * size; the change is read from the upper layer (layerChanges).
 *
 * Its sandboxes then run as the attempt's uid (`handOver`): the snapshot's files are theirs
 * already, so only what the worker itself wrote into the layer (applied inputs, delivered inputs)
 * is handed over, not every file of the tree.
 */
export class OverlayWorkspaces implements WorkspaceLayers {
  readonly #options: OverlayWorkspacesOptions;
  readonly #laid = new Map<string, LaidAttempt>();

  constructor(options: OverlayWorkspacesOptions) {
    this.#options = options;
  }

  async mount(request: WorkspaceLayerRequest): Promise<WorkspaceLayer | undefined> {
    const { folders } = request;
    const snapshotFolder = join(folders.directory, folderNames.snapshot);
    const layerFolder = join(folders.directory, folderNames.layer);
    const upper = join(layerFolder, 'upper');
    const uid = this.#options.uids.next();
    const undo: (() => Promise<unknown>)[] = [];
    const unmount = async () => {
      this.#laid.delete(folders.workspace);
      // The overlay, the snapshot's bind, then the volume's mounts, in one umount; the undo finds them
      // gone (or unmounts and reports what is left) and releases the cache's hold.
      if (undo.length > 0) await unmountAtOnce([folders.workspace, snapshotFolder, layerFolder], folders.directory);
      await undoEach(undo.splice(0).reverse());
    };
    try {
      await mkdir(snapshotFolder);
      await mkdir(layerFolder);
      const { volumes } = this.#options;
      if (volumes) {
        await volumes.mount(folders, layerFolder);
        undo.push(() => volumes.unmount(folders));
      }
      const held = await this.#options.cache.hold({ digest: request.digest, what: request.what, fetch: request.fetch, holder: folders.directory });
      undo.push(() => held.release());
      await idmappedBind(held.snapshot.tree, snapshotFolder, uid);
      undo.push(() => unmountPath(snapshotFolder));
      const environment = request.environment ? await this.#layEnvironment(request.environment, held.snapshot.tree, folders.directory, uid, undo) : undefined;
      await mkdir(upper, { mode: 0o755 });
      await chown(upper, uid, uid);
      await mkdir(join(layerFolder, 'work'));
      const lower = environment ? `${environment.folder}:${snapshotFolder}` : snapshotFolder;
      await mountOverlay({ lower, upper, work: join(layerFolder, 'work'), merged: folders.workspace });
      undo.push(() => unmountPath(folders.workspace));
      this.#laid.set(folders.workspace, { uid, upper });
      // Against what the attempt was given (snapshot and environment), and without what the setup
      // wrote: the patch stays the attempt's change against the snapshot.
      const changedPaths = environment
        ? async () =>
            withoutEnvironmentPaths(
              await layerChanges({ upper, lower: environment.view, merged: folders.workspace }),
              environment.held.paths,
              folders.workspace,
            )
        : () => layerChanges({ upper, lower: held.snapshot.tree, merged: folders.workspace });
      return {
        snapshot: held.snapshot,
        changedPaths,
        unmount,
        ...(environment
          ? {
              environment: {
                digest: environment.held.digest,
                // Read while the attempt holds the layer: its log cannot be evicted meanwhile.
                log: async () => new Uint8Array(await readFile(environment.held.logFile)),
                ...(environment.held.egressFile === undefined ? {} : { egress: async () => new Uint8Array(await readFile(environment.held.egressFile!)) }),
                built: environment.held.built,
                setupMs: environment.held.setupMs,
              },
            }
          : {}),
      };
    } catch (error) {
      await unmount().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Holds the attempt's environment layer (running its setup when the host has none), binds it
   * idmapped beside the snapshot's, and mounts the read-only view of both that the attempt's change
   * is read against.
   */
  async #layEnvironment(request: EnvironmentRequest, tree: string, directory: string, uid: number, undo: (() => Promise<unknown>)[]) {
    const { environments } = this.#options;
    if (!environments) {
      throw new CairnError(
        'CAIRN_EXECUTOR_START_FAILED',
        "This item needs an environment (environment.setup), and this executor lays none: enable the local executor's snapshot cache (snapshotCache.enabled) on a host where it works (`cairn doctor` says).",
        { path: 'environment' },
      );
    }
    const held = await environments.hold({ ...request, tree, holder: directory, uid });
    undo.push(() => held.release());
    const folder = join(directory, folderNames.environment);
    await mkdir(folder);
    await idmappedBind(held.layer, folder, uid);
    undo.push(() => unmountPath(folder));
    const view = join(directory, folderNames.lower);
    await mkdir(view);
    await mountReadOnlyView([held.layer, tree], view);
    undo.push(() => unmountPath(view));
    return { held, folder, view };
  }

  /**
   * The uid of the attempt laid at `workspace` once what the worker wrote into its upper layer
   * (as root) is that uid's too; undefined for a workspace not laid here. For the sandbox launcher,
   * in place of a chown of the whole workspace.
   */
  handOver(workspace: string): number | undefined {
    const laid = this.#laid.get(workspace);
    if (laid === undefined) return undefined;
    for (const entry of readdirSync(laid.upper, { recursive: true, withFileTypes: true })) {
      const path = relative(laid.upper, join(entry.parentPath, entry.name)).split(sep).join('/');
      // Through the merged folder, where a whiteout is no file at all (and is skipped).
      if (!entry.isCharacterDevice()) lchownSync(join(workspace, path), laid.uid, laid.uid);
    }
    return laid.uid;
  }
}

export async function mountOverlay(layers: { readonly lower: string; readonly upper: string; readonly work: string; readonly merged: string }): Promise<void> {
  const options = `lowerdir=${layers.lower},upperdir=${layers.upper},workdir=${layers.work},${overlayOptions}`;
  try {
    await runCommand('mount', ['-t', 'overlay', 'cairn-workspace', '-o', options, layers.merged], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  } catch (error) {
    throw new Error(`cannot mount the overlay on ${layers.merged}: ${commandError(error)}`, { cause: error });
  }
}

/** Mounts a read-only overlay of `lowers` (the first on top) at `target`: no upper layer, nothing written. */
async function mountReadOnlyView(lowers: readonly string[], target: string): Promise<void> {
  try {
    await runCommand('mount', ['-t', 'overlay', 'cairn-environment-view', '-o', `lowerdir=${lowers.join(':')},${overlayOptions}`, target], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
  } catch (error) {
    throw new Error(`cannot mount the environment's view on ${target}: ${commandError(error)}`, { cause: error });
  }
}

/**
 * Why workspaces cannot be laid over snapshots on this host (not root, no idmapped mounts, no
 * overlay, perl or unshare missing), or undefined when they can: a tiny tree laid once in a scratch
 * folder under `workRoot` (or the nearest folder above it, while it does not exist yet), as an
 * attempt's would be, in a mount namespace of its own, so that nothing it mounts outlives it (a
 * server killed meanwhile leaves no mount behind). The local executor asks once, as it starts, and
 * says so; `cairn doctor` shows it.
 */
export async function workspaceLayersProblem(workRoot: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the local executor does not run as root (overlay and idmapped mounts need it)';
  if ([',', ':', '\\'].some((character) => workRoot.includes(character)))
    return `the work root ${workRoot} holds a character mount options cannot carry (, : \\)`;
  let scratch: string;
  try {
    scratch = await mkdtemp(join(await nearestFolder(workRoot), '.cairn-layer-probe-'));
  } catch (error) {
    return `cannot make a folder in the work root: ${(error as Error).message}`;
  }
  const paths = {
    tree: join(scratch, 'tree'),
    lower: join(scratch, 'lower'),
    upper: join(scratch, 'upper'),
    work: join(scratch, 'work'),
    merged: join(scratch, 'merged'),
  };
  try {
    for (const path of Object.values(paths)) await mkdir(path);
    const layCommand = `perl -e "$IDMAP" "$1" "$2" 65534 && mount -t overlay cairn-layer-probe -o "lowerdir=$2,upperdir=$3,workdir=$4,${overlayOptions}" "$5"`;
    await run('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', layCommand, 'cairn-layer-probe', ...Object.values(paths)], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', IDMAP: idmapScript },
    });
    return undefined;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'unshare is not installed (apt-get install -y util-linux)' : undefined;
    return missing ?? `cannot lay a workspace over a snapshot: ${commandError(error)}`;
  } finally {
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** `path`, or the nearest folder above it that exists. */
async function nearestFolder(path: string): Promise<string> {
  for (let folder = resolve(path); ; folder = dirname(folder)) {
    if ((await stat(folder).catch(() => undefined))?.isDirectory() || folder === dirname(folder)) return folder;
  }
}
