import type { Digest } from '@cairn/core';
import { sha256Digest } from '../json/digest.ts';
import { workspaceSnapshotChunks, type WorkspaceSnapshotOptions } from './write-workspace-snapshot.ts';

/** A workspace snapshot, ready to store at `blobKey(digest)`. */
export interface WorkspaceSnapshot {
  /** A deterministic tar; empty (zero bytes) for a workspace without files. */
  readonly bytes: Uint8Array;
  readonly digest: Digest;
  /** Files and symlinks it holds. */
  readonly entries: number;
}

/**
 * Snapshots a directory as the deterministic tar the worker extracts, held in memory (a large
 * workspace is better written to a file with `writeWorkspaceSnapshot`: the same bytes). Inside a
 * git work tree it holds what `git ls-files --cached --others --exclude-standard` lists (tracked
 * and untracked files as they are on disk now, minus ignored ones; submodules and deleted files
 * are left out), read with the repository's own ignore files and no global git configuration, so
 * that two machines snapshot one checkout alike. Elsewhere it holds every file and symlink except
 * `.git` folders. Empty directories are not kept (git does not track them). Refused with
 * CAIRN_PAYLOAD_INVALID: a directory that does not exist or is not one, FIFOs, sockets and
 * devices, and paths the worker would refuse. With `history`, it also carries that many commits of
 * the repository's history (see WorkspaceSnapshotOptions).
 */
export async function snapshotWorkspace(directory: string, options: WorkspaceSnapshotOptions = {}): Promise<WorkspaceSnapshot> {
  const tally = { entries: 0 };
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of workspaceSnapshotChunks(directory, tally, options)) {
    chunks.push(chunk);
    length += chunk.byteLength;
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, digest: sha256Digest(bytes), entries: tally.entries };
}
