import { chmod, lstat, mkdir, mkdtemp, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CairnError } from '@cairn/protocol';
import { gitOutput, runGit } from '@cairn/protocol/workspace';
import { extractSnapshot } from '../snapshot/extract-snapshot.ts';
import type { AttemptMounts } from '../worker/attempt-mounts.ts';
import { preparationOverLimit } from '../worker/preparation-over-limit.ts';
import { readBlobs } from './read-blobs.ts';

/** Where and from what `AttemptWorkspace.prepare` builds an attempt's workspace. */
export interface AttemptWorkspacePreparation {
  /** An existing directory; the attempt gets a fresh folder inside it. */
  readonly root: string;
  /** The snapshot tar (zero bytes for the empty workspace). */
  readonly snapshot: Uint8Array;
  /** Names the snapshot in errors (`workspace snapshot sha256:…`). */
  readonly what?: string;
  /** A readable part of the folder name, for whoever keeps work directories to debug. */
  readonly label?: string;
  /** File systems of a fixed size mounted in the attempt's folder before anything is written (see AttemptMounts). */
  readonly mounts?: AttemptMounts;
}

/** A symlink of the baseline: its blob and the target it holds. */
export interface BaselineSymlink {
  readonly object: string;
  readonly target: string;
}

/**
 * Attributes that override every `.gitattributes` the workspace holds (`$GIT_DIR/info/attributes`
 * wins over them): without it a runtime could write `* text eol=crlf` or `ident` and git would
 * store other bytes than the files hold, and the patch would not reproduce the workspace.
 */
const neutralAttributes = '* !text !eol !crlf !ident !filter !working-tree-encoding !diff\n';

/**
 * An attempt's folder: `workspace/` (what the runtime sees and changes) and `git/`, the git
 * directory, kept beside the workspace rather than in it, so that the runtime can neither read nor
 * rewrite the baseline, the index, hooks or config (a `core.fsmonitor` planted there would run on
 * the host the next time the worker calls git). `baseline` is the commit the patch is taken
 * against.
 */
export class AttemptWorkspace {
  /** The attempt's folder, holding `workspace/` and `git/`. */
  readonly directory: string;
  /** Absolute, symlink-free path of the workspace. */
  readonly workspace: string;
  readonly git: { readonly gitDirectory: string; readonly workTree: string };
  /** Files and symlinks the snapshot held. */
  readonly snapshotEntries: number;
  /** Device and inode of the workspace folder when it was made. */
  readonly #identity: { readonly dev: number; readonly ino: number };
  readonly #mounts: AttemptMounts | undefined;
  #baseline: string;
  #baselineSymlinks: ReadonlyMap<string, BaselineSymlink> = new Map();

  private constructor(
    directory: string,
    snapshotEntries: number,
    baseline: string,
    identity: { readonly dev: number; readonly ino: number },
    mounts: AttemptMounts | undefined,
  ) {
    this.directory = directory;
    this.#identity = identity;
    this.#mounts = mounts;
    this.workspace = join(directory, 'workspace');
    this.git = { gitDirectory: join(directory, 'git'), workTree: this.workspace };
    this.snapshotEntries = snapshotEntries;
    this.#baseline = baseline;
  }

  /** The commit patches are captured against. */
  get baseline(): string {
    return this.#baseline;
  }

  /** The symlinks of the baseline commit by path, read once when it was committed. */
  get baselineSymlinks(): ReadonlyMap<string, BaselineSymlink> {
    return this.#baselineSymlinks;
  }

  /**
   * Extracts the snapshot into a fresh folder under `root` and commits it as the baseline. Throws
   * CAIRN_PAYLOAD_INVALID for an unsafe snapshot (see `extractSnapshot`); the folder is removed then.
   */
  static async prepare(preparation: AttemptWorkspacePreparation): Promise<AttemptWorkspace> {
    const directory = await mkdtemp(
      join(await realpath(preparation.root), `cairn-${(preparation.label ?? 'attempt').replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 60)}-`),
    );
    const workspace = join(directory, 'workspace');
    const { mounts } = preparation;
    let mounted = false;
    try {
      await mkdir(workspace);
      await mounts?.mount({ directory, workspace });
      mounted = mounts !== undefined;
      const entries = await extractSnapshot(preparation.snapshot, workspace, preparation.what ?? 'the workspace snapshot');
      const git = { gitDirectory: join(directory, 'git'), workTree: workspace };
      await gitOutput(git, ['init', '--quiet', '--template=']);
      await mkdir(join(git.gitDirectory, 'info'), { recursive: true });
      await writeFile(join(git.gitDirectory, 'info', 'attributes'), neutralAttributes);
      const { dev, ino } = await lstat(workspace);
      const attempt = new AttemptWorkspace(directory, entries, '', { dev, ino }, mounts);
      await attempt.commit('baseline');
      return attempt;
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
   * The failure to report when a file system mounted for the attempt (see AttemptMounts) is full;
   * undefined while none is, or when the attempt has none.
   */
  async limitReached(): Promise<CairnError | undefined> {
    return this.#mounts?.limitReached({ directory: this.directory, workspace: this.workspace });
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
   * Stages everything and commits it as the new baseline (even when nothing changed), so that
   * the next capture holds only what changed after this point. Returns the commit id.
   */
  async commit(message: string): Promise<string> {
    await gitOutput(this.git, ['add', '--all']);
    await gitOutput(this.git, ['commit', '--quiet', '--allow-empty', '--no-verify', '-m', message]);
    this.#baseline = (await gitOutput(this.git, ['rev-parse', 'HEAD'])).toString().trim();
    // Rewrites the index after the files it describes: entries written in the same instant as
    // their files count as "racily clean", and every later `git add` would read all of them again.
    await runGit(this.git, ['update-index', '--refresh', '-q']);
    this.#baselineSymlinks = await this.#symlinksOf(this.#baseline);
    return this.#baseline;
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
    await this.#mounts?.unmount({ directory: this.directory, workspace: this.workspace });
    try {
      await rm(this.directory, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      await openUp(this.directory);
      await rm(this.directory, { recursive: true, force: true, maxRetries: 3 });
    }
  }
}

/** Gives the owner full access to every folder under `directory` (not following symlinks). */
async function openUp(directory: string): Promise<void> {
  await chmod(directory, 0o700).catch(() => undefined);
  const children = await readdir(directory, { withFileTypes: true }).catch(() => []);
  for (const child of children) {
    if (child.isDirectory()) await openUp(join(directory, child.name));
  }
}
