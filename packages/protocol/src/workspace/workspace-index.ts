import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '@cairn/core';
import { isKeptListingWitness, type KeptListingWitness } from './listing-witness.ts';

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
  readonly sizes: ArrayLike<number>;
  readonly mtimesMs: ArrayLike<number>;
  readonly ctimesMs: ArrayLike<number>;
  readonly inodes: ArrayLike<number>;
  readonly modes: ArrayLike<number>;
  readonly contents: readonly string[];
  /** The latest snapshots first (a few: one per history depth a user alternates between). */
  readonly snapshots: readonly IndexedSnapshot[];
  /** What the listing of exactly these paths depended on (ListingWitness), or `refused` when it cannot be watched. */
  readonly witness?: KeptListingWitness | undefined;
}

/** An index as read from its file: `paths` and `contents` are split from their text when first asked for. */
export interface StoredWorkspaceIndex extends WorkspaceIndex {
  /** Every path followed by a NUL, in order: equal to a listing's so joined exactly when the listing is the index's. */
  readonly pathsText: string;
}

// The file: this magic, the SHA-256 of everything after it, a 4-byte little-endian header length,
// the header (JSON), zeros up to a multiple of 8 bytes, then the columns: the five numeric ones as
// doubles in this machine's byte order (the index never leaves it), one column after the other, then the paths and the contents, each
// followed by a NUL (neither may hold one). Reading it costs one hash, one small JSON parse and
// no parse at all of the 38,000 rows of a large workspace, whose numbers are read in place.
const magic = Buffer.from('cairn.workspace-index/v2\n');
const checksumBytes = 32;
const numericColumns = ['sizes', 'mtimesMs', 'ctimesMs', 'inodes', 'modes'] as const;
/** How many snapshots an index remembers. */
export const indexedSnapshotLimit = 4;
const indexExtension = '.index';
// What the previous version wrote, under the same name: removed when its successor is written.
const formerExtension = '.json';

/** `$XDG_CACHE_HOME/cairn/workspace-index` (`~/.cache/cairn/workspace-index`): the user's own, as git keeps its index per clone. */
export function defaultWorkspaceIndexFolder(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'cairn', 'workspace-index');
}

/** The index file of the folder whose real path is `directory`, named by its hash (a path may hold any character). */
export function workspaceIndexFile(folder: string, directory: string): string {
  return join(folder, `${createHash('sha256').update(directory).digest('hex')}${indexExtension}`);
}

interface IndexHeader {
  readonly directory: string;
  readonly startedAtMs: number;
  readonly membersKey: string;
  readonly snapshots: readonly IndexedSnapshot[];
  readonly witness?: KeptListingWitness | undefined;
  readonly count: number;
  readonly pathsBytes: number;
  readonly contentsBytes: number;
}

/**
 * The index in `file`, or undefined when there is none, or it cannot be read, is not one this
 * version writes, is damaged anywhere (its checksum), or belongs to another folder: an index only
 * saves work, so one that cannot be trusted whole is ignored (and replaced by the next snapshot),
 * never an error.
 */
export async function readWorkspaceIndex(file: string, directory: string): Promise<StoredWorkspaceIndex | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return undefined;
  }
  const bodyStart = magic.length + checksumBytes;
  if (bytes.length < bodyStart + 4 || !bytes.subarray(0, magic.length).equals(magic)) return undefined;
  const checksum = createHash('sha256').update(bytes.subarray(bodyStart)).digest();
  if (!checksum.equals(bytes.subarray(magic.length, bodyStart))) return undefined;
  const headerLength = bytes.readUInt32LE(bodyStart);
  const headerStart = bodyStart + 4;
  let header: IndexHeader;
  try {
    header = JSON.parse(bytes.toString('utf8', headerStart, headerStart + headerLength)) as IndexHeader;
  } catch {
    return undefined;
  }
  if (!isHeader(header) || header.directory !== directory) return undefined;
  const { count } = header;
  const numbersStart = alignedTo8(headerStart + headerLength);
  const pathsStart = numbersStart + numericColumns.length * count * 8;
  const contentsStart = pathsStart + header.pathsBytes;
  if (contentsStart + header.contentsBytes !== bytes.length) return undefined;
  const pathsText = bytes.toString('utf8', pathsStart, contentsStart);
  const contentsText = bytes.toString('utf8', contentsStart);
  if (nulCount(pathsText) !== count || nulCount(contentsText) !== count) return undefined;
  // One copy of the numbers into an aligned array of their own (a Buffer's offset need not be aligned).
  const numbers = new Float64Array(numericColumns.length * count);
  Buffer.from(numbers.buffer).set(bytes.subarray(numbersStart, pathsStart));
  const column = (position: number) => numbers.subarray(position * count, (position + 1) * count);
  let paths: string[] | undefined;
  let contents: string[] | undefined;
  return {
    directory,
    startedAtMs: header.startedAtMs,
    membersKey: header.membersKey,
    snapshots: header.snapshots.slice(0, indexedSnapshotLimit),
    witness: header.witness,
    sizes: column(0),
    mtimesMs: column(1),
    ctimesMs: column(2),
    inodes: column(3),
    modes: column(4),
    pathsText,
    get paths() {
      return (paths ??= splitColumn(pathsText));
    },
    get contents() {
      return (contents ??= splitColumn(contentsText));
    },
  };
}

/**
 * Writes `index` to `file` whole or not at all (a temporary file renamed over it), readable by
 * this user only. A failure (a read-only or full cache folder) is left unsaid: the snapshot it
 * follows is written, and the next one only reads more.
 */
export async function writeWorkspaceIndex(file: string, index: WorkspaceIndex): Promise<void> {
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const count = index.paths.length;
  const pathsText = Buffer.from(joinColumn(index.paths));
  const contentsText = Buffer.from(joinColumn(index.contents));
  const { directory, startedAtMs, membersKey, snapshots, witness } = index;
  const header: IndexHeader = {
    directory,
    startedAtMs,
    membersKey,
    snapshots,
    witness,
    count,
    pathsBytes: pathsText.length,
    contentsBytes: contentsText.length,
  };
  const headerText = Buffer.from(JSON.stringify(header));
  const numbers = new Float64Array(numericColumns.length * count);
  numericColumns.forEach((name, position) => numbers.set(index[name], position * count));
  const lengthField = Buffer.alloc(4);
  lengthField.writeUInt32LE(headerText.length);
  const bodyStart = magic.length + checksumBytes;
  const padding = Buffer.alloc(alignedTo8(bodyStart + 4 + headerText.length) - (bodyStart + 4 + headerText.length));
  const body = [lengthField, headerText, padding, Buffer.from(numbers.buffer), pathsText, contentsText];
  const checksum = createHash('sha256');
  for (const part of body) checksum.update(part);
  try {
    await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
    await writeFile(temporary, Buffer.concat([magic, checksum.digest(), ...body]), { mode: 0o600, flag: 'wx' });
    await rename(temporary, file);
    if (file.endsWith(indexExtension)) await rm(`${file.slice(0, -indexExtension.length)}${formerExtension}`, { force: true });
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
    const names = (await readdir(folder)).filter((name) => name.endsWith(indexExtension) || name.endsWith(formerExtension));
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

function isByteCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isHeader(value: unknown): value is IndexHeader {
  if (typeof value !== 'object' || value === null) return false;
  const header = value as Record<string, unknown>;
  return (
    typeof header['directory'] === 'string' &&
    isFiniteNumber(header['startedAtMs']) &&
    typeof header['membersKey'] === 'string' &&
    Array.isArray(header['snapshots']) &&
    header['snapshots'].every(isIndexedSnapshot) &&
    (header['witness'] === undefined || isKeptListingWitness(header['witness'])) &&
    isByteCount(header['count']) &&
    isByteCount(header['pathsBytes']) &&
    isByteCount(header['contentsBytes'])
  );
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

function alignedTo8(offset: number): number {
  return Math.ceil(offset / 8) * 8;
}

/** Each value followed by a NUL. */
function joinColumn(values: readonly string[]): string {
  return values.length === 0 ? '' : `${values.join('\0')}\0`;
}

function splitColumn(text: string): string[] {
  const values = text.split('\0');
  values.pop();
  return values;
}

/** Whether `paths` are the index's paths, in its order: one comparison of two strings, not one per member. */
export function listsIndexedPaths(index: StoredWorkspaceIndex, paths: readonly string[]): boolean {
  return paths === index.paths || (paths.length === index.sizes.length && joinColumn(paths) === index.pathsText);
}

function nulCount(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\0'); at !== -1; at = text.indexOf('\0', at + 1)) count++;
  return count;
}
