import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, type Stats } from 'node:fs';
import { readFile, readlink, realpath } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { isIndexedClean } from './indexed-content.ts';
import { WorkspaceContentKey } from './workspace-content-key.ts';
import { listingWitnessHolds, takeListingWitness, type KeptListingWitness, type ListingGitFiles } from './listing-witness.ts';
import { gitWorkTreeFacts, workspaceHistoryCut, type GitWorkTreeFacts, type WorkspaceHistoryCut } from './workspace-history.ts';
import {
  defaultWorkspaceIndexFolder,
  indexedSnapshotLimit,
  listsIndexedPaths,
  readWorkspaceIndex,
  workspaceIndexFile,
  WorkspaceIndexColumns,
  writeWorkspaceIndex,
  type IndexedSnapshot,
  type StoredWorkspaceIndex,
  type WorkspaceIndex,
} from './workspace-index.ts';
import { assertWorkspaceDirectory, listWorkspacePaths } from './workspace-listing.ts';
import { writeListedWorkspaceSnapshot, type WorkspaceSnapshotOptions, type WrittenWorkspaceSnapshot } from './write-workspace-snapshot.ts';

/** How `prepareWorkspaceSnapshot` keeps its index. */
export interface WorkspaceIndexOptions {
  /**
   * The folder of workspace indexes (one file per workspace, named by a hash of its real path);
   * `false` for none (every snapshot reads every file). Default: the user's cache folder,
   * `$XDG_CACHE_HOME/cairn/workspace-index` (`~/.cache/cairn/workspace-index`).
   */
  readonly indexFolder?: string | false;
}

/** A workspace listed and compared with its index, ready to write. */
export interface PreparedWorkspaceSnapshot {
  /**
   * The snapshot an earlier `write` made of exactly what the workspace holds now, known from the
   * index without writing it (its digest, length and members); undefined when anything changed,
   * or there is no index. A caller that only needs the digest (a server that holds it already)
   * need not write.
   */
  readonly known: WrittenWorkspaceSnapshot | undefined;
  /** How many members were read to decide `known`: those not indexed, changed since, or racily clean. */
  readonly contentReads: number;
  /** Writes the snapshot, as `writeWorkspaceSnapshot` does, and indexes what it read. */
  write(destination: Writable): Promise<WrittenWorkspaceSnapshot>;
}

// Members read at once when the index cannot vouch for them.
const parallelReads = 64;
// Files up to this size are read whole to be hashed, larger ones streamed.
const smallFileBytes = 64 * 1024;

/**
 * Lists a workspace as `writeWorkspaceSnapshot` does and, when its index (WorkspaceIndex) knows a
 * snapshot of it, tells whether that snapshot is still what the workspace holds, reading only the
 * files whose metadata (size, mtime, ctime, inode, mode) changed since they were indexed, or that
 * were changed too close to the index's start to be told apart (the racy-clean rule,
 * isIndexedClean). The index lives outside the workspace and never changes a snapshot's bytes;
 * a missing, damaged or foreign index only means more reading. Refused as `writeWorkspaceSnapshot`
 * refuses.
 */
export async function prepareWorkspaceSnapshot(
  directory: string,
  options: WorkspaceSnapshotOptions & WorkspaceIndexOptions = {},
): Promise<PreparedWorkspaceSnapshot> {
  const history = options.history ?? 0;
  await assertWorkspaceDirectory(directory);
  // One git answers both the listing's question and the history's, and says where the
  // repository's files the listing depends on are.
  const facts = await gitWorkTreeFacts(directory, true);
  const indexFolder = options.indexFolder ?? defaultWorkspaceIndexFolder();
  const realDirectory = await realpath(directory);
  const file = indexFolder === false ? undefined : workspaceIndexFile(indexFolder, realDirectory);
  const index = file === undefined ? undefined : await readWorkspaceIndex(file, realDirectory);
  const gitFiles = file === undefined ? undefined : await witnessedGitFiles(facts, realDirectory);
  // The index's paths are the listing while its witness holds (nothing the listing depends on
  // changed): no `git ls-files`. Otherwise a witness is taken, then the listing.
  const previous = index?.witness;
  const witnessHeld = gitFiles !== undefined && typeof previous === 'object' && listingWitnessHolds(previous);
  const witness: KeptListingWitness | undefined =
    witnessHeld || previous === 'refused' ? previous : gitFiles === undefined ? undefined : takeListingWitness(realDirectory, gitFiles);
  const paths = witnessHeld ? index!.paths : await listWorkspacePaths(directory, facts?.insideWorkTree);
  let known: IndexedSnapshot | undefined;
  let contentReads = 0;
  if (file !== undefined && index !== undefined && index.snapshots.length > 0) {
    const compared = await compareWithIndex(directory, paths, index);
    if (compared !== undefined) {
      contentReads = compared.contentReads;
      const key = WorkspaceContentKey.withHistory(compared.membersKey, await workspaceHistoryCut(directory, history, facts));
      known = index.snapshots.find((snapshot) => snapshot.key === key);
      // Members read again and found as indexed (touched, or aged past the racy window) are
      // indexed anew, so the next snapshot need not read them (see compareWithIndex); a witness
      // taken anew is kept, so the next snapshot need not list.
      if (known !== undefined && (compared.columns !== undefined || witness !== previous)) {
        const columns = compared.columns ?? index;
        await writeWorkspaceIndex(file, {
          directory: realDirectory,
          startedAtMs: compared.columns === undefined ? index.startedAtMs : compared.startedAtMs,
          membersKey: compared.membersKey,
          snapshots: index.snapshots,
          witness: keptWitness(witness, columns.paths, paths),
          paths: columns.paths,
          sizes: columns.sizes,
          mtimesMs: columns.mtimesMs,
          ctimesMs: columns.ctimesMs,
          inodes: columns.inodes,
          modes: columns.modes,
          contents: columns.contents,
        });
      }
    }
  }
  return {
    known: known === undefined ? undefined : { digest: known.digest, bytes: known.bytes, entries: known.entries },
    contentReads,
    write: (destination) =>
      writeIndexed(directory, destination, options, paths, file === undefined ? undefined : { file, directory: realDirectory, previous: index, witness }),
  };
}

/** The witness to keep with indexed `members` of `listed`: none when a member was left out (gone, or a folder), as the witness vouches for the whole listing. */
function keptWitness(witness: KeptListingWitness | undefined, members: readonly string[], listed: readonly string[]): KeptListingWitness | undefined {
  return witness === 'refused' || members.length === listed.length ? witness : undefined;
}

/**
 * The repository files a witness of the listing watches, or undefined when none can be kept:
 * outside a work tree (the listing is a walk), or in a folder below its top (whose listing also
 * depends on the `.gitignore` files above it).
 */
async function witnessedGitFiles(facts: GitWorkTreeFacts | undefined, realDirectory: string): Promise<ListingGitFiles | undefined> {
  if (facts?.insideWorkTree !== true || facts.top === undefined) return undefined;
  const { indexFile, excludeFile, configFile } = facts;
  if (indexFile === undefined || excludeFile === undefined || configFile === undefined) return undefined;
  const top = await realpath(facts.top).catch(() => undefined);
  return top === realDirectory ? { index: indexFile, exclude: excludeFile, config: configFile } : undefined;
}

interface Comparison {
  /** The members' part of the workspace's content key, as it is now. */
  readonly membersKey: string;
  readonly contentReads: number;
  /** The index of the workspace as it is now; undefined when it is the index as it was (every member trusted, in its order). */
  readonly columns: WorkspaceIndexColumns | undefined;
  readonly startedAtMs: number;
}

/** A listed member the index cannot vouch for: its metadata, then its content once read. */
interface UnknownMember {
  readonly path: string;
  readonly stats: Stats;
  content?: string;
}

/**
 * Every listed member's content: from the index where it can be trusted, read otherwise; undefined
 * when a member cannot be snapshotted (the write refuses it). The index it makes for the next
 * snapshot is safe to date from this comparison's start: a member taken over from the old index
 * was trusted there, so it was last changed before the old start's window, earlier still than
 * this one's; a member read here was looked up after this start.
 */
async function compareWithIndex(directory: string, paths: readonly string[], index: StoredWorkspaceIndex): Promise<Comparison | undefined> {
  const startedAtMs = Date.now();
  // The listing is the index's, in its order, unless files came or went: then a lookup.
  const listedAsIndexed = listsIndexedPaths(index, paths);
  let positions: Map<string, number> | undefined;
  const positionOf = (path: string, listed: number): number | undefined => {
    if (listedAsIndexed || index.paths[listed] === path) return listed;
    positions ??= new Map(index.paths.map((indexed, position) => [indexed, position]));
    return positions.get(path);
  };
  // Metadata first, of every member: its position in the index when trusted (a small integer,
  // nothing allocated in the common case), else what to read; content then, of those.
  const members: (number | UnknownMember)[] = [];
  const unknown: UnknownMember[] = [];
  let asIndexed = listedAsIndexed;
  for (let listed = 0; listed < paths.length; listed++) {
    const path = paths[listed]!;
    const stats = lstatQuietly(`${directory}/${path}`);
    // Not there any more, or a submodule: the writer leaves it out too.
    if (stats === undefined || stats.isDirectory()) {
      asIndexed = false;
      continue;
    }
    // A FIFO, socket or device: the writer refuses it, so no snapshot is known.
    if (!stats.isFile() && !stats.isSymbolicLink()) return undefined;
    const position = positionOf(path, listed);
    if (position !== undefined && isIndexedClean(index, position, stats)) {
      if (position !== listed) asIndexed = false;
      members.push(position);
    } else {
      asIndexed = false;
      const member: UnknownMember = { path, stats };
      members.push(member);
      unknown.push(member);
    }
  }
  if (asIndexed) return { membersKey: index.membersKey, contentReads: 0, columns: undefined, startedAtMs };
  for (let start = 0; start < unknown.length; start += parallelReads) {
    await Promise.all(
      unknown.slice(start, start + parallelReads).map(async (member) => {
        const absolute = `${directory}/${member.path}`;
        member.content = member.stats.isSymbolicLink() ? await readlink(absolute) : await fileSha256(absolute, member.stats);
      }),
    );
  }
  const columns = new WorkspaceIndexColumns();
  const key = new WorkspaceContentKey();
  for (const member of members) {
    if (typeof member === 'number') columns.copy(index, member);
    else columns.add(member.path, member.stats, member.content!);
    const content = columns.contents.at(-1)!;
    const mode = columns.modes.at(-1)!;
    key.add(
      columns.paths.at(-1)!,
      (mode & 0o170000) === 0o120000 ? { kind: 'symlink', target: content } : { kind: 'file', executable: (mode & 0o100) !== 0, sha256: content },
    );
  }
  return { membersKey: key.members(), contentReads: unknown.length, columns, startedAtMs };
}

const quietly = { throwIfNoEntry: false } as const;

/**
 * What lstat says of a member, or undefined when it is gone. Synchronous on purpose: one system
 * call each, where a promise per member cost more than the call itself (an unchanged
 * 38,000-file workspace is all metadata, and its comparison is most of what re-submitting it costs).
 */
function lstatQuietly(absolute: string): Stats | undefined {
  try {
    return lstatSync(absolute, quietly);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

async function fileSha256(absolute: string, stats: Stats): Promise<string> {
  const hash = createHash('sha256');
  if (stats.size <= smallFileBytes) return hash.update(await readFile(absolute)).digest('hex');
  for await (const chunk of createReadStream(absolute)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes the snapshot and, when there is an index file, indexes what was read, remembering this snapshot first. */
async function writeIndexed(
  directory: string,
  destination: Writable,
  options: WorkspaceSnapshotOptions,
  paths: readonly string[],
  indexing:
    | { readonly file: string; readonly directory: string; readonly previous: WorkspaceIndex | undefined; readonly witness: KeptListingWitness | undefined }
    | undefined,
): Promise<WrittenWorkspaceSnapshot> {
  if (indexing === undefined) return writeListedWorkspaceSnapshot(directory, destination, options, undefined);
  // Before the first member is looked up: the racy-clean rule is safe only measured from here.
  const startedAtMs = Date.now();
  const columns = new WorkspaceIndexColumns();
  const key = new WorkspaceContentKey();
  let history: { readonly cut: WorkspaceHistoryCut | undefined } | undefined;
  let complete = true;
  const written = await writeListedWorkspaceSnapshot(directory, destination, options, {
    paths,
    recorder: {
      file(path, stats, executable, sha256) {
        columns.add(path, stats, sha256);
        key.add(path, { kind: 'file', executable, sha256 });
      },
      symlink(path, stats, target) {
        columns.add(path, stats, target);
        key.add(path, { kind: 'symlink', target });
      },
      unindexed() {
        complete = false;
      },
      finished(cut) {
        history = { cut };
      },
    },
  });
  const membersKey = key.members();
  // A member not indexed (it changed while read) leaves the key incomplete: the snapshot is not remembered by it.
  const snapshotKey = history === undefined || !complete ? undefined : WorkspaceContentKey.withHistory(membersKey, history.cut);
  const remembered: IndexedSnapshot[] =
    snapshotKey === undefined ? [] : [{ key: snapshotKey, digest: written.digest, bytes: written.bytes, entries: written.entries }];
  const kept = (indexing.previous?.snapshots ?? []).filter((earlier) => earlier.key !== snapshotKey);
  await writeWorkspaceIndex(indexing.file, {
    directory: indexing.directory,
    startedAtMs,
    membersKey,
    snapshots: [...remembered, ...kept].slice(0, indexedSnapshotLimit),
    witness: keptWitness(indexing.witness, columns.paths, paths),
    ...columns,
  });
  return written;
}
