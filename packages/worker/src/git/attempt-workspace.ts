import { chmod, lstat, mkdir, mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LimitHit } from '@cairn/core';
import type { CairnError } from '@cairn/protocol';
import { gitOutput, runGit } from '@cairn/protocol/workspace';
import { extractSnapshot } from '../snapshot/extract-snapshot.ts';
import { snapshotCommitMessage } from '../snapshot/snapshot-tree.ts';
import type { AttemptMounts } from '../worker/attempt-mounts.ts';
import { preparationOverLimit } from '../worker/preparation-over-limit.ts';
import type { WorkspaceEnvironment, WorkspaceEnvironmentRequest, WorkspaceLayer, WorkspaceLayers } from '../worker/workspace-layers.ts';
import { adoptHistory, commitBaseline, initBaselineGit } from './baseline-git.ts';
import { writeLayeredGitDirectory } from './layered-git-directory.ts';
import { readBlobs } from './read-blobs.ts';
import { copyWorkspaceRepository } from './workspace-repository.ts';

/** Where an attempt's folder is made, and what its name shows. */
interface AttemptFolderPlace {
  /** An existing directory; the attempt gets a fresh folder inside it. */
  readonly root: string;
  /** A readable part of the folder name, for whoever keeps work directories to debug. */
  readonly label?: string;
  /** File systems of a fixed size mounted in the attempt's folder (see AttemptMounts). */
  readonly mounts?: AttemptMounts;
}

/** Where and from what `AttemptWorkspace.prepare` builds an attempt's workspace by extracting its snapshot. */
export interface AttemptWorkspacePreparation extends AttemptFolderPlace {
  /** The snapshot tar (zero bytes for the empty workspace). */
  readonly snapshot: Uint8Array;
  /** Names the snapshot in errors (`workspace snapshot sha256:…`). */
  readonly what?: string;
}

/** Where and over what `AttemptWorkspace.overLayer` lays an attempt's workspace. */
export interface LayeredAttemptPreparation extends AttemptFolderPlace {
  readonly layers: WorkspaceLayers;
  /** The snapshot's digest. */
  readonly digest: string;
  /** Names the snapshot in errors. */
  readonly what: string;
  /** The snapshot's bytes, fetched only when the host has no tree of it yet. */
  readonly fetch: () => Promise<Uint8Array>;
  /** The attempt's warm environment, laid under its own layer (see WorkspaceLayerRequest). */
  readonly environment?: WorkspaceEnvironmentRequest;
}

/** A symlink of the baseline: its blob and the target it holds. */
export interface BaselineSymlink {
  readonly object: string;
  readonly target: string;
}

/**
 * An attempt's folder: `workspace/` (what the runtime sees and changes) and `git/`, the worker's
 * git directory, kept beside the workspace rather than in it, so that the runtime can neither read
 * nor rewrite the baseline, the index, hooks or config (a `core.fsmonitor` planted there would run
 * on the host the next time the worker calls git). `baseline` is the commit the patch is taken
 * against. The workspace holds its own repository too (`.git`, the runtime's: see
 * workspaceRepositoryName), at the same baseline commit.
 *
 * Made in one of two ways: `prepare` extracts the snapshot into the workspace and commits it (work
 * in proportion to the snapshot's size, every attempt); `overLayer` mounts the workspace as a layer
 * over a tree the host keeps (work in proportion to nothing), and then every capture reads only
 * the paths the layer holds.
 */
export class AttemptWorkspace {
  /** The attempt's folder, holding `workspace/` and `git/`. */
  readonly directory: string;
  /** Absolute, symlink-free path of the workspace. */
  readonly workspace: string;
  readonly git: { readonly gitDirectory: string; readonly workTree: string };
  /** Files and symlinks the snapshot held. */
  readonly snapshotEntries: number;
  /** Device and inode of the workspace folder once it was made (and mounted). */
  readonly #identity: { readonly dev: number; readonly ino: number };
  readonly #mounts: AttemptMounts | undefined;
  readonly #layer: WorkspaceLayer | undefined;
  #baseline: string;
  #baselineSymlinks: Promise<ReadonlyMap<string, BaselineSymlink>> | undefined;

  private constructor(
    directory: string,
    snapshotEntries: number,
    baseline: string,
    identity: { readonly dev: number; readonly ino: number },
    mounts: AttemptMounts | undefined,
    layer: WorkspaceLayer | undefined,
  ) {
    this.directory = directory;
    this.#identity = identity;
    this.#mounts = mounts;
    this.#layer = layer;
    this.workspace = join(directory, 'workspace');
    this.git = { gitDirectory: join(directory, 'git'), workTree: this.workspace };
    this.snapshotEntries = snapshotEntries;
    this.#baseline = baseline;
  }

  /** The commit patches are captured against. */
  get baseline(): string {
    return this.#baseline;
  }

  /** Whether the workspace is a layer over a tree the host keeps (see `overLayer`). */
  get layered(): boolean {
    return this.#layer !== undefined;
  }

  /** The warm environment laid under the workspace (ADR 0056), when it has one. */
  get environment(): WorkspaceEnvironment | undefined {
    return this.#layer?.environment;
  }

  /**
   * Extracts the snapshot into a fresh folder under `root` and commits it as the baseline. Throws
   * CAIRN_PAYLOAD_INVALID for an unsafe snapshot (see `extractSnapshot`); the folder is removed then.
   */
  static async prepare(preparation: AttemptWorkspacePreparation): Promise<AttemptWorkspace> {
    const directory = await attemptFolder(preparation);
    const workspace = join(directory, 'workspace');
    const { mounts } = preparation;
    let mounted = false;
    try {
      await mkdir(workspace);
      await mounts?.mount({ directory, workspace });
      mounted = mounts !== undefined;
      const what = preparation.what ?? 'the workspace snapshot';
      const { entries, history } = await extractSnapshot(preparation.snapshot, workspace, what);
      const git = { gitDirectory: join(directory, 'git'), workTree: workspace };
      await initBaselineGit(git);
      if (history) await adoptHistory(git, history, what);
      const baseline = await commitBaseline(git, snapshotCommitMessage);
      await copyWorkspaceRepository(git);
      const { dev, ino } = await lstat(workspace);
      return new AttemptWorkspace(directory, entries, baseline, { dev, ino }, mounts, undefined);
    } catch (error) {
      // A snapshot that does not fit the workspace's limit is the item's failure, said as such: the
      // bare ENOSPC would read as a full host disk, which the worker waits out.
      const reached = mounted ? await mounts!.limitReached({ directory, workspace }).catch(() => undefined) : undefined;
      if (mounted) await mounts!.unmount({ directory, workspace }).catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
      throw reached ? preparationOverLimit(reached) : error;
    }
  }

  /**
   * Lays a fresh attempt folder's workspace over the host's tree of the snapshot (see
   * WorkspaceLayers), its git directory borrowing that tree's objects and index: nothing is
   * extracted or hashed. Undefined when the host cannot layer (the folder is removed then).
   */
  static async overLayer(preparation: LayeredAttemptPreparation): Promise<AttemptWorkspace | undefined> {
    const directory = await attemptFolder(preparation);
    const workspace = join(directory, 'workspace');
    let layer: WorkspaceLayer | undefined;
    try {
      await mkdir(workspace);
      layer = await preparation.layers.mount({
        digest: preparation.digest,
        what: preparation.what,
        fetch: preparation.fetch,
        folders: { directory, workspace },
        ...(preparation.environment ? { environment: preparation.environment } : {}),
      });
      if (layer === undefined) {
        await rm(directory, { recursive: true, force: true });
        return undefined;
      }
      const { snapshot } = layer;
      // Its git directory borrows the tree's objects and index (see writeLayeredGitDirectory).
      await writeLayeredGitDirectory(join(directory, 'git'), snapshot);
      const { dev, ino } = await lstat(workspace);
      return new AttemptWorkspace(directory, snapshot.entries, snapshot.baseline, { dev, ino }, preparation.mounts, layer);
    } catch (error) {
      await layer?.unmount().catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * The failure to report when a file system mounted for the attempt (see AttemptMounts) is full;
   * undefined while none is, or when the attempt has none.
   */
  async limitReached(): Promise<CairnError | undefined> {
    return this.#mounts?.limitReached({ directory: this.directory, workspace: this.workspace });
  }

  /** The attempt's mounts' limits that refused a write at any moment (see AttemptMounts.limitsHit); none without mounts. */
  async limitsHit(): Promise<readonly LimitHit[]> {
    return (await this.#mounts?.limitsHit?.({ directory: this.directory, workspace: this.workspace }).catch(() => undefined)) ?? [];
  }

  /**
   * Whether the workspace is still the folder it was made as. A runtime without a bind-mounted
   * sandbox could swap it for a symlink (to `/`), and the worker would then read and stage the
   * files over there.
   */
  async isIntact(): Promise<boolean> {
    const stats = await lstat(this.workspace).catch(() => undefined);
    return stats !== undefined && stats.isDirectory() && stats.dev === this.#identity.dev && stats.ino === this.#identity.ino;
  }

  /**
   * The workspace-relative paths that may have changed since the snapshot (what the layer holds),
   * or undefined when any path may have (an extracted workspace: git has to look at every file).
   */
  async changedPaths(): Promise<readonly Buffer[] | undefined> {
    return this.#layer?.changedPaths();
  }

  /**
   * Stages every change and commits it as the new baseline (even when nothing changed), so that
   * the next capture holds only what changed after this point. Returns the commit id.
   */
  async commit(message: string): Promise<string> {
    this.#baseline = await commitBaseline(this.git, message, await this.changedPaths());
    this.#baselineSymlinks = undefined;
    return this.#baseline;
  }

  /** The symlinks of the baseline commit by path, read once per baseline, when first asked for. */
  baselineSymlinks(): Promise<ReadonlyMap<string, BaselineSymlink>> {
    this.#baselineSymlinks ??= this.#symlinksOf(this.#baseline);
    return this.#baselineSymlinks;
  }

  /**
   * Applies a patch to the workspace and the index (`git apply --index`), all or nothing. Returns
   * git's message when it does not apply.
   */
  async applyPatch(patch: Uint8Array): Promise<{ readonly applied: true } | { readonly applied: false; readonly message: string }> {
    if (patch.byteLength === 0) return { applied: true };
    const result = await runGit(this.git, ['apply', '--index', '--binary', '--whitespace=nowarn', '-'], { input: patch });
    return result.exitCode === 0 ? { applied: true } : { applied: false, message: result.stderr || `git apply exited with ${result.exitCode}` };
  }

  async #symlinksOf(commit: string): Promise<Map<string, BaselineSymlink>> {
    const objects = new Map<string, string>();
    for (const record of (await gitOutput(this.git, ['ls-tree', '-r', '-z', commit])).toString('utf8').split('\0')) {
      // "<mode> <type> <object>\t<path>"
      if (!record.startsWith('120000 ')) continue;
      const tab = record.indexOf('\t');
      objects.set(record.slice(tab + 1), record.slice(0, tab).split(' ')[2]!);
    }
    const contents = await readBlobs(this.git, [...objects.values()]);
    return new Map([...objects].map(([path, object]) => [path, { object, target: contents.get(object)!.toString('utf8') }]));
  }

  /**
   * Removes the attempt's folder. A runtime may have left folders the worker cannot enter or empty
   * (mode 0500, 0000): their owner permissions are restored and the removal tried again.
   */
  async remove(): Promise<void> {
    if (this.#layer) await this.#layer.unmount();
    else await this.#mounts?.unmount({ directory: this.directory, workspace: this.workspace });
    try {
      await rm(this.directory, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      await openUp(this.directory);
      await rm(this.directory, { recursive: true, force: true, maxRetries: 3 });
    }
  }
}

/** A fresh folder for an attempt under `place.root`, named after its label. */
async function attemptFolder(place: AttemptFolderPlace): Promise<string> {
  return mkdtemp(join(await realpath(place.root), `cairn-${(place.label ?? 'attempt').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 60)}-`));
}

/** Gives the owner full access to every folder under `directory` (not following symlinks). */
async function openUp(directory: string): Promise<void> {
  await chmod(directory, 0o700).catch(() => undefined);
  const children = await readdir(directory, { withFileTypes: true }).catch(() => []);
  for (const child of children) {
    if (child.isDirectory()) await openUp(join(directory, child.name));
  }
}
