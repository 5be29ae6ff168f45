import { createHash, type Hash } from 'node:crypto';
import type { WorkspaceHistoryCut } from './workspace-history.ts';

/**
 * A key naming what a snapshot holds, from its members' content digests rather than their bytes:
 * the path, kind, mode bit and SHA-256 of each file, each symlink's target (`members`), then the
 * cut of the history it carries (`withHistory`). Two snapshots with the same key are the same
 * bytes (the tar is a function of exactly these), so the index can name a snapshot's digest
 * without reading a file.
 */
export class WorkspaceContentKey {
  readonly #hash: Hash = createHash('sha256').update('cairn.workspace-content-key/v1\n');

  /** Adds a member, in the snapshot's order. */
  add(
    path: string,
    member: { readonly kind: 'file'; readonly executable: boolean; readonly sha256: string } | { readonly kind: 'symlink'; readonly target: string },
  ): void {
    // JSON: a path or a target may hold any character but NUL, a newline too; each record stays one line.
    this.#hash.update(`${JSON.stringify(member.kind === 'file' ? [path, member.executable ? 'x' : 'f', member.sha256] : [path, 'l', member.target])}\n`);
  }

  /** The members' part of the key, once every member is added; the index keeps it, to skip adding unchanged members again. */
  members(): string {
    return this.#hash.digest('hex');
  }

  /** The whole key: the members' part and the history's cut. */
  static withHistory(members: string, history: WorkspaceHistoryCut | undefined): string {
    return createHash('sha256')
      .update(JSON.stringify([members, history === undefined ? null : [history.head, history.shallow]]))
      .digest('hex');
  }
}
