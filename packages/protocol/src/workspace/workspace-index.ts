import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '@cairn/core';

/** A snapshot written from members whose content key (WorkspaceContentKey) was `key`. */
export interface IndexedSnapshot {
  readonly key: string;
  readonly digest: Digest;
  readonly bytes: number;
  readonly entries: number;
}

/**
 * What the last snapshot of a folder read, as git's index keeps it: for each member, in the
 * snapshot's order, what `lstat` said of it before its content was read (size, mtime, ctime,
 * inode, mode) and what it held (a file's SHA-256 in hex, a symlink's target). Kept in the
 * user's cache folder, never in the workspace, so it can never change a snapshot. With it,
 * snapshotting the folder again reads only the files whose metadata changed, and an unchanged
 * folder's snapshot is known without reading any (prepareWorkspaceSnapshot). Held as columns:
 * a 38,000-member index is then a few arrays rather than 38,000 objects to parse and collect.
 */
export interface WorkspaceIndex {
  /** The folder's real path: an index of another folder is never used. */
  readonly directory: string;
  /** This machine's clock before the first member was looked up: what the racy-clean rule compares with (isIndexedClean). */
  readonly startedAtMs: number;
  /** The members' part of the content key (WorkspaceContentKey.members) of exactly these members. */
  readonly membersKey: string;
  readonly paths: readonly string[];
  readonly sizes: readonly number[];
  readonly mtimesMs: readonly number[];
  readonly ctimesMs: readonly number[];
  readonly inodes: readonly number[];
  readonly modes: readonly number[];
  readonly contents: readonly string[];
  /** The latest snapshots first (a few: one per history depth a user alternates between). */
  readonly snapshots: readonly IndexedSnapshot[];
}

const format = 'cairn.workspace-index/v1';
/** How many snapshots an index remembers. */
export const indexedSnapshotLimit = 4;
const columns = ['paths', 'sizes', 'mtimesMs', 'ctimesMs', 'inodes', 'modes', 'contents'] as const;

/** `$XDG_CACHE_HOME/cairn/workspace-index` (`~/.cache/cairn/workspace-index`): the user's own, as git keeps its index per clone. */
export function defaultWorkspaceIndexFolder(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'cairn', 'workspace-index');
}

/** The index file of the folder whose real path is `directory`, named by its hash (a path may hold any character). */
export function workspaceIndexFile(folder: string, directory: string): string {
  return join(folder, `${createHash('sha256').update(directory).digest('hex')}.json`);
}

/**
 * The index in `file`, or undefined when there is none, or it cannot be read, is not one this
 * version writes, is damaged anywhere, or belongs to another folder: an index only saves work,
 * so one that cannot be trusted whole is ignored (and replaced by the next snapshot), never an error.
 */
export async function readWorkspaceIndex(file: string, directory: string): Promise<WorkspaceIndex | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const index = parsed as Record<string, unknown>;
  if (index['format'] !== format || index['directory'] !== directory || !isFiniteNumber(index['startedAtMs'])) return undefined;
  if (typeof index['membersKey'] !== 'string' || !Array.isArray(index['snapshots']) || !index['snapshots'].every(isIndexedSnapshot)) return undefined;
  const paths = index['paths'];
  if (!Array.isArray(paths)) return undefined;
  for (const column of columns) {
    const values = index[column];
    if (!Array.isArray(values) || values.length !== paths.length) return undefined;
    const valid = column === 'paths' || column === 'contents' ? (value: unknown) => typeof value === 'string' : isFiniteNumber;
    if (!values.every(valid)) return undefined;
  }
  return { ...(index as unknown as WorkspaceIndex), snapshots: (index['snapshots'] as IndexedSnapshot[]).slice(0, indexedSnapshotLimit) };
}

/**
 * Writes `index` to `file` whole or not at all (a temporary file renamed over it), readable by
 * this user only. A failure (a read-only or full cache folder) is left unsaid: the snapshot it
 * follows is written, and the next one only reads more.
 */
export async function writeWorkspaceIndex(file: string, index: WorkspaceIndex): Promise<void> {
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const { directory, startedAtMs, membersKey, snapshots } = index;
  const text = JSON.stringify({
    format,
    directory,
    startedAtMs,
    membersKey,
    snapshots,
    ...Object.fromEntries(columns.map((column) => [column, index[column]])),
  });
  try {
    await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
    await writeFile(temporary, text, { mode: 0o600, flag: 'wx' });
    await rename(temporary, file);
  } catch {
    await rm(temporary, { force: true });
    return;
  }
  await evictIndexes(join(file, '..'));
}

/** How many workspaces' indexes the folder keeps: one per folder ever snapshotted would grow without end (temporary folders, old clones). */
export const indexedWorkspaceLimit = 32;

/** Removes the least recently written indexes beyond `indexedWorkspaceLimit`; a failure only leaves the folder larger. */
async function evictIndexes(folder: string): Promise<void> {
  try {
    const names = (await readdir(folder)).filter((name) => name.endsWith('.json'));
    if (names.length <= indexedWorkspaceLimit) return;
    const written = await Promise.all(names.map(async (name) => ({ name, mtimeMs: (await stat(join(folder, name)).catch(() => undefined))?.mtimeMs ?? 0 })));
    written.sort((left, right) => right.mtimeMs - left.mtimeMs);
    await Promise.all(written.slice(indexedWorkspaceLimit).map(({ name }) => rm(join(folder, name), { force: true })));
  } catch {
    // An index folder that cannot be listed is only larger than it should be.
  }
}

/** Columns of an index being built, one member at a time, in the snapshot's order. */
export class WorkspaceIndexColumns {
  readonly paths: string[] = [];
  readonly sizes: number[] = [];
  readonly mtimesMs: number[] = [];
  readonly ctimesMs: number[] = [];
  readonly inodes: number[] = [];
  readonly modes: number[] = [];
  readonly contents: string[] = [];

  add(
    path: string,
    stats: { readonly size: number; readonly mtimeMs: number; readonly ctimeMs: number; readonly ino: number; readonly mode: number },
    content: string,
  ): void {
    this.paths.push(path);
    this.sizes.push(stats.size);
    this.mtimesMs.push(stats.mtimeMs);
    this.ctimesMs.push(stats.ctimeMs);
    this.inodes.push(stats.ino);
    this.modes.push(stats.mode);
    this.contents.push(content);
  }

  /** Member `position` of `index`, as it was. */
  copy(index: WorkspaceIndex, position: number): void {
    this.add(
      index.paths[position]!,
      {
        size: index.sizes[position]!,
        mtimeMs: index.mtimesMs[position]!,
        ctimeMs: index.ctimesMs[position]!,
        ino: index.inodes[position]!,
        mode: index.modes[position]!,
      },
      index.contents[position]!,
    );
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isIndexedSnapshot(value: unknown): value is IndexedSnapshot {
  if (typeof value !== 'object' || value === null) return false;
  const snapshot = value as Record<string, unknown>;
  return (
    typeof snapshot['key'] === 'string' &&
    typeof snapshot['digest'] === 'string' &&
    /^sha256:[0-9a-f]{64}$/.test(snapshot['digest']) &&
    isFiniteNumber(snapshot['bytes']) &&
    isFiniteNumber(snapshot['entries'])
  );
}
