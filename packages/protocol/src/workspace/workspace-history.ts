import { mkdtemp, open, readFile, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '../errors/cairn-error.ts';
import { runGit } from './run-git.ts';

/**
 * Where a snapshot carries its repository's recent history: three members at its end, under a
 * folder no workspace may hold. `head` is the commit id of the repository's HEAD, `shallow` the
 * commits whose parents were left out (one id a line, sorted), `pack` a git pack of every commit,
 * tree and blob from HEAD down to those. The worker makes them the workspace repository's history.
 */
export const historyFolderName = '.cairn-history';
export const historyMemberNames = {
  head: `${historyFolderName}/head`,
  shallow: `${historyFolderName}/shallow`,
  pack: `${historyFolderName}/pack`,
} as const;

/** How many commits of history a snapshot carries unless told otherwise: enough for `git log` and `git blame` of recent work. */
export const defaultHistoryDepth = 50;

/** The recent history of a workspace's repository, its pack in a temporary file until `remove`. */
export interface WorkspaceHistory {
  readonly head: string;
  readonly shallow: readonly string[];
  readonly packFile: string;
  readonly packBytes: number;
  remove(): Promise<void>;
}

const commitId = /^[0-9a-f]{40}$/;

/**
 * The last `depth` commits of the HEAD of the git repository `directory` is in (those `git
 * rev-list --max-count` lists, newest first; a commit whose parents are not all among them is
 * where history is cut), packed without deltas searched (reused where the repository already has
 * them: fast, and the same bytes for the same repository); undefined outside a repository, in a
 * folder below its top (whose snapshot holds only part of the tree), before its first commit, or
 * for a SHA-256 repository (the worker's are SHA-1).
 */
export async function collectWorkspaceHistory(directory: string, depth: number): Promise<WorkspaceHistory | undefined> {
  const cut = await workspaceHistoryCut(directory, depth);
  return cut === undefined ? undefined : packWorkspaceHistory(directory, cut);
}

/** Which commits a snapshot's history holds: its head and where it is cut. Equal cuts of one repository pack to equal bytes. */
export interface WorkspaceHistoryCut {
  readonly head: string;
  readonly shallow: readonly string[];
}

/**
 * The cut `collectWorkspaceHistory` would pack, without packing it (two short git commands): what
 * the workspace index compares to know whether a snapshot's history changed. Undefined where
 * `collectWorkspaceHistory` carries no history.
 */
export async function workspaceHistoryCut(directory: string, depth: number, known?: GitWorkTreeFacts): Promise<WorkspaceHistoryCut | undefined> {
  if (depth < 1) return undefined;
  const location = { cwd: directory };
  const facts = known ?? (await gitWorkTreeFacts(directory, false));
  if (facts === undefined || facts.objectFormat !== 'sha1') return undefined;
  const { top, shallowFile } = facts;
  // A folder below the top holds only its part of the tree; the history's trees would be all of it.
  if (top === undefined || (await realpath(top)) !== (await realpath(directory))) return undefined;
  const listed = await runGit(location, ['rev-list', '--parents', `--max-count=${depth}`, 'HEAD']);
  if (listed.exitCode !== 0) return undefined;
  const lines = listed.stdout
    .toString()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(' '));
  const head = lines[0]?.[0];
  if (head === undefined || !commitId.test(head)) return undefined;
  const kept = new Set(lines.map(([commit]) => commit!));
  // In a shallow clone (a CI checkout, a fetched repository) git lists the commits where its own
  // history was cut without parents, though their objects name them: they are cut here too.
  const cutAlready = await repositoryShallowCommits(shallowFile);
  const shallow = lines
    .filter(([commit, ...parents]) => parents.some((parent) => !kept.has(parent)) || cutAlready.has(commit!))
    .map(([commit]) => commit!)
    .sort();
  return { head, shallow };
}

/** What `git rev-parse` says of the work tree a folder is in. */
export interface GitWorkTreeFacts {
  /** `true` when asked for (`withInsideWorkTree`): answered, the folder is inside a work tree (the command fails elsewhere). */
  readonly insideWorkTree: boolean | undefined;
  readonly objectFormat: string | undefined;
  readonly top: string | undefined;
  /** Where the repository's `shallow` file is (or would be). */
  readonly shallowFile: string | undefined;
  /** Where its index, `info/exclude` and config are (or would be): what its listing depends on beside the work tree (ListingWitness). */
  readonly indexFile: string | undefined;
  readonly excludeFile: string | undefined;
  readonly configFile: string | undefined;
}

/**
 * The facts workspaceHistoryCut needs, and (`withInsideWorkTree`) whether the folder is inside a
 * work tree, from one git (a re-submit of an unchanged workspace runs only this, ls-files and
 * rev-list); undefined when git fails, as it does outside a work tree or in a bare repository:
 * a caller then asks what it needs on its own.
 */
export async function gitWorkTreeFacts(directory: string, withInsideWorkTree: boolean): Promise<GitWorkTreeFacts | undefined> {
  const asked = [
    '--show-object-format',
    '--show-toplevel',
    '--path-format=absolute',
    ...['shallow', 'index', 'info/exclude', 'config'].flatMap((name) => ['--git-path', name]),
  ];
  const answer = await runGit({ cwd: directory }, ['rev-parse', ...(withInsideWorkTree ? ['--is-inside-work-tree'] : []), ...asked]);
  if (answer.exitCode !== 0) return undefined;
  const lines = answer.stdout.toString().trim().split('\n');
  const inside = withInsideWorkTree ? lines.shift() : undefined;
  const [objectFormat, top, shallowFile, indexFile, excludeFile, configFile] = lines;
  return { insideWorkTree: inside === undefined ? undefined : inside === 'true', objectFormat, top, shallowFile, indexFile, excludeFile, configFile };
}

/** Packs the commits of `cut` into a temporary file (see collectWorkspaceHistory). */
async function packWorkspaceHistory(directory: string, { head, shallow }: WorkspaceHistoryCut): Promise<WorkspaceHistory> {
  const location = { cwd: directory };
  const folder = await mkdtemp(join(tmpdir(), 'cairn-history-'));
  const remove = () => rm(folder, { recursive: true, force: true });
  try {
    const packFile = join(folder, 'history.pack');
    const file = await open(packFile, 'wx', 0o600);
    let packed;
    try {
      packed = await runGit(location, ['-c', 'pack.threads=1', '-c', 'pack.window=0', 'pack-objects', '--revs', '--stdout', '--shallow', '--quiet'], {
        input: Buffer.from(`${head}\n${shallow.map((commit) => `--shallow ${commit}\n`).join('')}`),
        outputFile: file.fd,
      });
    } finally {
      await file.close();
    }
    if (packed.exitCode !== 0)
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        `Could not pack the history of the git repository at ${directory}: ${packed.stderr || `git pack-objects exited with ${packed.exitCode}`}. Check it with \`git fsck\`, or snapshot without history (history: 0).`,
        { path: directory },
      );
    return { head, shallow, packFile, packBytes: (await stat(packFile)).size, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** The commits a shallow repository's `shallow` file lists (where its history was cut); none in a complete one. */
async function repositoryShallowCommits(shallowFile: string | undefined): Promise<Set<string>> {
  if (shallowFile === undefined || shallowFile === '') return new Set();
  const listed = await readFile(shallowFile, 'utf8').catch(() => '');
  return new Set(listed.split('\n').filter((line) => commitId.test(line)));
}
