import { lstatSync, readdirSync, readFileSync, type Dirent, type Stats } from 'node:fs';
import { racyWindowMs } from './indexed-content.ts';

/**
 * What a workspace's listing (listWorkspacePaths) depended on, as git's untracked cache keeps it:
 * the `lstat` of every folder of the workspace (a name added to, removed from or renamed in a
 * folder changes its mtime), of every `.gitignore`, and of the repository's files that decide
 * what is tracked or ignored (its index, `info/exclude`, its config). Taken before the listing
 * it witnesses; while every entry still says the same, and none changed too close to the
 * witness's start to tell (the racy-clean rule, isIndexedClean), the listing is the same, and
 * the workspace index's paths stand for it without running `git ls-files`.
 */
export interface ListingWitness {
  readonly startedAtMs: number;
  /** Absolute paths: the workspace's folders, its `.gitignore` files, the repository's files. */
  readonly paths: readonly string[];
  /** Per path: size, mtime, ctime, inode, mode; all -1 for a path that was not there. */
  readonly stats: readonly number[];
}

/** The repository files a listing inside a git work tree depends on (absolute, from `git rev-parse --git-path`). */
export interface ListingGitFiles {
  readonly index: string;
  readonly exclude: string;
  readonly config: string;
}

/**
 * Folders a witness may hold: beyond them (a tree with a `node_modules`, ignored or not: the walk
 * goes into ignored folders too) taking one costs more than the `git ls-files` it would save, and
 * the listing is run every time.
 */
export const witnessedFolderLimit = 4_000;

const statFields = 5;
const absent = [-1, -1, -1, -1, -1] as const;
const quietly = { throwIfNoEntry: false } as const;
// A repository configuration that names other files (an excludesFile, an include) makes what is
// ignored depend on files a witness does not watch.
const unwatchedConfiguration = /excludesfile|include|worktreeconfig/i;

/**
 * The witness of `directory`'s listing as it is now; `refused` when none can vouch for it (more
 * than witnessedFolderLimit folders, a `.gitignore` or repository file that is not a plain file:
 * a symlink's target may change under it, or a configuration naming other files); undefined
 * when it could not be taken this time (a folder removed or unreadable while walked). Take it
 * before listing: a change after it then either shows in the witness or in the listing. The
 * repository's files come first: a refusal for them costs no walk.
 */
export function takeListingWitness(directory: string, git: ListingGitFiles | undefined): KeptListingWitness | undefined {
  const startedAtMs = Date.now();
  const paths: string[] = [];
  const stats: number[] = [];
  const record = (path: string, found: Stats | undefined): void => {
    paths.push(path);
    stats.push(...(found === undefined ? absent : [found.size, found.mtimeMs, found.ctimeMs, found.ino, found.mode]));
  };
  if (git !== undefined) {
    for (const file of [git.index, git.exclude, git.config]) {
      const found = lstatSync(file, quietly);
      if (found !== undefined && !found.isFile()) return 'refused';
      record(file, found);
    }
    let configuration: string;
    try {
      configuration = readFileSync(git.config, 'utf8');
    } catch {
      return undefined;
    }
    if (unwatchedConfiguration.test(configuration)) return 'refused';
  }
  const folders = [directory];
  for (let next = 0; next < folders.length; next++) {
    if (folders.length > witnessedFolderLimit) return 'refused';
    const folder = folders[next]!;
    const found = lstatSync(folder, quietly);
    if (found === undefined || !found.isDirectory()) return undefined;
    record(folder, found);
    let children: Dirent[];
    try {
      children = readdirSync(folder, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const child of children) {
      // Git metadata is never listed; what in it matters is the repository's files (recorded
      // above) and, for a repository nested below, whether it is one (its `.git` changes).
      if (child.name === '.git') {
        if (folder !== directory) record(`${folder}/.git`, lstatSync(`${folder}/.git`, quietly));
        continue;
      }
      if (child.isDirectory()) folders.push(`${folder}/${child.name}`);
      else if (child.name === '.gitignore') {
        const ignore = lstatSync(`${folder}/${child.name}`, quietly);
        if (ignore !== undefined && !ignore.isFile()) return 'refused';
        record(`${folder}/${child.name}`, ignore);
      }
    }
  }
  return { startedAtMs, paths, stats };
}

/**
 * Whether every entry of `witness` says what it said, and none was changed within the racy
 * window before the witness's start (a change in that tick could have left the same times).
 */
export function listingWitnessHolds(witness: ListingWitness): boolean {
  const trustedBefore = witness.startedAtMs - racyWindowMs;
  for (let position = 0; position < witness.paths.length; position++) {
    const found = lstatSync(witness.paths[position]!, quietly);
    const at = position * statFields;
    const recorded = witness.stats;
    if (found === undefined) {
      if (recorded[at] !== -1) return false;
      continue;
    }
    if (
      recorded[at] !== found.size ||
      recorded[at + 1] !== found.mtimeMs ||
      recorded[at + 2] !== found.ctimeMs ||
      recorded[at + 3] !== found.ino ||
      recorded[at + 4] !== found.mode
    )
      return false;
    if (found.mtimeMs >= trustedBefore || found.ctimeMs >= trustedBefore) return false;
  }
  return true;
}

/**
 * What an index keeps of its listing: a witness, or `refused` when none could be taken (then none
 * is tried again for that workspace: the walk would only be repeated to be thrown away).
 */
export type KeptListingWitness = ListingWitness | 'refused';

/** Whether `value` (parsed from an index) is a witness or a refusal. */
export function isKeptListingWitness(value: unknown): value is KeptListingWitness {
  return value === 'refused' || isListingWitness(value);
}

function isListingWitness(value: unknown): value is ListingWitness {
  if (typeof value !== 'object' || value === null) return false;
  const witness = value as Record<string, unknown>;
  const { paths, stats } = witness;
  return (
    typeof witness['startedAtMs'] === 'number' &&
    Array.isArray(paths) &&
    paths.every((path) => typeof path === 'string') &&
    Array.isArray(stats) &&
    stats.length === paths.length * statFields &&
    stats.every((value) => typeof value === 'number')
  );
}
