import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '@cairn/core';
import { CairnError } from '../errors/cairn-error.ts';
import { collectWorkspaceHistory, historyMemberNames, type WorkspaceHistory, type WorkspaceHistoryCut } from './workspace-history.ts';
import { listWorkspacePaths, refuseWorkspacePath } from './workspace-listing.ts';
import { tarEnd, tarEntryHeader, tarPadding, type TarEntryHeading } from './write-tar.ts';

/** What a snapshot holds besides the workspace's files. */
export interface WorkspaceSnapshotOptions {
  /**
   * How many commits of the history of the repository the workspace is in to carry (see
   * collectWorkspaceHistory), which the worker makes the history of the workspace's own `.git`;
   * 0 (the default here) carries none, and outside a repository there is none.
   */
  readonly history?: number;
}

/** What `writeWorkspaceSnapshot` wrote: the snapshot's digest, its length and how many members it holds. */
export interface WrittenWorkspaceSnapshot {
  readonly digest: Digest;
  /** Its length in bytes; 0 for a workspace without files. */
  readonly bytes: number;
  /** Files and symlinks it holds. */
  readonly entries: number;
}

/**
 * Writes the snapshot of a directory to `destination` (a file or any writable stream, ended
 * once the snapshot is written) and hashes it on the way: the same bytes and digest as
 * `snapshotWorkspace`, without holding them. Files are read one at a time, a large one in
 * chunks, so memory stays a few MiB whatever the workspace's size. Refused as
 * `snapshotWorkspace` refuses (CAIRN_PAYLOAD_INVALID naming the folder or the path); a file
 * that changes length while it is read is refused too (its header, written first, says its
 * length). On an error the destination is destroyed: what it holds is no snapshot.
 */
export async function writeWorkspaceSnapshot(
  directory: string,
  destination: Writable,
  options: WorkspaceSnapshotOptions = {},
): Promise<WrittenWorkspaceSnapshot> {
  return writeListedWorkspaceSnapshot(directory, destination, options);
}

/** `writeWorkspaceSnapshot`, of paths listed already when `listed` is given, telling its recorder of each member. */
export async function writeListedWorkspaceSnapshot(
  directory: string,
  destination: Writable,
  options: WorkspaceSnapshotOptions,
  listed?: ListedWorkspace,
): Promise<WrittenWorkspaceSnapshot> {
  const hash = createHash('sha256');
  const tally = { entries: 0, bytes: 0 };
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of workspaceSnapshotChunks(directory, tally, options, listed)) {
      hash.update(chunk);
      tally.bytes += chunk.byteLength;
      yield chunk;
    }
  }
  await pipeline(hashed(), destination);
  return { digest: `sha256:${hash.digest('hex')}`, bytes: tally.bytes, entries: tally.entries };
}

// Metadata of this many paths is looked up at once, and files up to `smallFileBytes` read with it.
const parallelReads = 64;
const smallFileBytes = 64 * 1024;
// What the snapshot is handed on in: large enough to keep writes few, small enough to stay light.
const chunkBytes = 1024 * 1024;

/** One member as looked up (with what lstat said of it before it was read): a small file's content read with it, a larger file read when written. */
type FoundEntry =
  | { readonly heading: TarEntryHeading & { kind: 'symlink' }; readonly stats: Stats }
  | { readonly heading: TarEntryHeading & { kind: 'file' }; readonly stats: Stats; readonly content: Uint8Array }
  | { readonly heading: TarEntryHeading & { kind: 'file' }; readonly stats: Stats; readonly absolute: string };

/**
 * Told of each member once it is written, with what lstat said of it before its content was read,
 * then of the history carried: how the workspace index is kept (prepareWorkspaceSnapshot).
 */
export interface WrittenMemberRecorder {
  file(path: string, stats: Stats, executable: boolean, sha256: string): void;
  symlink(path: string, stats: Stats, target: string): void;
  /** A file that changed length while it was read: snapshotted as read, but what lstat said describes no content read. */
  unindexed(path: string): void;
  finished(history: WorkspaceHistoryCut | undefined): void;
}

/** What a caller that listed the workspace already hands the writer: its paths, and who to tell of each member. */
export interface ListedWorkspace {
  readonly paths: readonly string[];
  readonly recorder: WrittenMemberRecorder;
}

/**
 * The snapshot's bytes in chunks of about `chunkBytes`, counting its members in `tally.entries`.
 * A workspace without files yields nothing.
 */
export async function* workspaceSnapshotChunks(
  directory: string,
  tally: { entries: number },
  options: WorkspaceSnapshotOptions = {},
  listed?: ListedWorkspace,
): AsyncGenerator<Uint8Array> {
  const paths = listed?.paths ?? (await listWorkspacePaths(directory));
  const history = await collectWorkspaceHistory(directory, options.history ?? 0);
  try {
    yield* membersOf(directory, paths, tally, history, listed?.recorder);
    listed?.recorder.finished(history === undefined ? undefined : { head: history.head, shallow: history.shallow });
  } finally {
    await history?.remove();
  }
}

/** The members of `paths`, then those of `history`, then the tar's end (none for no members). */
async function* membersOf(
  directory: string,
  paths: readonly string[],
  tally: { entries: number },
  history: WorkspaceHistory | undefined,
  recorder: WrittenMemberRecorder | undefined,
): AsyncGenerator<Uint8Array> {
  const gathered = new ChunkGatherer(chunkBytes);
  for (let start = 0; start < paths.length; start += parallelReads) {
    const batch = await Promise.all(paths.slice(start, start + parallelReads).map((path) => lookUp(directory, path)));
    for (const entry of batch) {
      if (entry === undefined) continue;
      tally.entries += 1;
      yield* gathered.add(tarEntryHeader(entry.heading));
      if (entry.heading.kind !== 'file') {
        recorder?.symlink(entry.heading.path, entry.stats, entry.heading.target);
        continue;
      }
      // Hashed only for the index: the snapshot's own digest is of the whole tar.
      const hash = recorder === undefined ? undefined : createHash('sha256');
      if ('content' in entry) {
        hash?.update(entry.content);
        yield* gathered.add(entry.content);
      } else if ('absolute' in entry) {
        for await (const chunk of fileChunks(directory, entry.heading, entry.absolute)) {
          hash?.update(chunk);
          yield* gathered.add(chunk);
        }
      }
      yield* gathered.add(tarPadding(entry.heading.size));
      if (hash === undefined) continue;
      if (entry.stats.size === entry.heading.size) recorder?.file(entry.heading.path, entry.stats, entry.heading.executable, hash.digest('hex'));
      else recorder?.unindexed(entry.heading.path);
    }
  }
  if (history !== undefined) {
    for (const [path, text] of [
      [historyMemberNames.head, `${history.head}\n`],
      [historyMemberNames.shallow, history.shallow.map((commit) => `${commit}\n`).join('')],
    ] as const) {
      const content = Buffer.from(text);
      yield* gathered.add(tarEntryHeader({ kind: 'file', path, executable: false, size: content.byteLength }));
      yield* gathered.add(content);
      yield* gathered.add(tarPadding(content.byteLength));
    }
    const pack: TarEntryHeading & { kind: 'file' } = { kind: 'file', path: historyMemberNames.pack, executable: false, size: history.packBytes };
    yield* gathered.add(tarEntryHeader(pack));
    for await (const chunk of fileChunks(directory, pack, history.packFile)) yield* gathered.add(chunk);
    yield* gathered.add(tarPadding(pack.size));
  }
  if (tally.entries > 0 || history !== undefined) yield* gathered.add(tarEnd());
  yield* gathered.flush();
}

/** One listed path as a member to write; undefined for what is not there any more or is a submodule. */
async function lookUp(directory: string, path: string): Promise<FoundEntry | undefined> {
  const absolute = join(directory, path);
  const stats = await lstat(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (stats === undefined || stats.isDirectory()) return undefined;
  if (stats.isSymbolicLink()) return { heading: { kind: 'symlink', path, target: await readlink(absolute) }, stats };
  if (!stats.isFile()) refuseWorkspacePath(directory, path, 'is not a regular file, directory or symlink (a FIFO, socket or device)');
  const executable = isExecutable(stats);
  if (stats.size > smallFileBytes) return { heading: { kind: 'file', path, executable, size: stats.size }, stats, absolute };
  // Its length is what was read, as a whole-file read always had it.
  const content = await readFile(absolute);
  return { heading: { kind: 'file', path, executable, size: content.byteLength }, stats, content };
}

function isExecutable(stats: Stats): boolean {
  return (stats.mode & 0o100) !== 0;
}

/**
 * A large file's content, exactly `heading.size` bytes in chunks, read from the file opened
 * without following a link. A file that is no longer the regular file of that length is
 * refused: the header already written says its length, and padding what is missing would
 * snapshot content that never was.
 */
async function* fileChunks(directory: string, heading: TarEntryHeading & { kind: 'file' }, absolute: string): AsyncGenerator<Uint8Array> {
  const changed = (how: string): never => {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Cannot snapshot ${JSON.stringify(heading.path)} in ${directory}: it ${how} while it was being snapshotted. Snapshot again once nothing writes to the folder.`,
      { path: heading.path },
    );
  };
  const handle = await open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ELOOP') return changed('was removed or replaced');
    throw error;
  });
  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.size !== heading.size) changed('changed');
    for (let remaining = heading.size; remaining > 0;) {
      const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, remaining));
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) changed('became shorter');
      remaining -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
    if ((await handle.read(Buffer.alloc(1), 0, 1, null)).bytesRead !== 0) changed('became longer');
  } finally {
    await handle.close();
  }
}

/** Gathers small pieces (headers, small files, padding) into chunks of about `size` bytes. */
class ChunkGatherer {
  readonly #size: number;
  #pieces: Uint8Array[] = [];
  #length = 0;

  constructor(size: number) {
    this.#size = size;
  }

  /** Adds a piece; yields a chunk once `size` bytes are gathered. */
  *add(piece: Uint8Array): Generator<Uint8Array> {
    if (piece.byteLength === 0) return;
    this.#pieces.push(piece);
    this.#length += piece.byteLength;
    if (this.#length >= this.#size) yield* this.flush();
  }

  /** Yields what is gathered, if anything. */
  *flush(): Generator<Uint8Array> {
    if (this.#length === 0) return;
    const pieces = this.#pieces;
    this.#pieces = [];
    this.#length = 0;
    yield pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }
}
