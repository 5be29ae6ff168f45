/**
 * An independent view of a forge's repository: the served bare repository read with `git`, the
 * in-memory backend's maps. Branches are short names (`cairn/x`), commits full ids.
 */
export interface ForgeOracle {
  /** The commit `branch` points at in the repository, or `null` when there is no such branch. */
  readBranch(branch: string): Promise<string | null>;
  /**
   * A commit as the repository holds it: its parents, its whole message (with the trailers), and
   * every file of its tree as UTF-8 text by path; `null` when the repository has no such commit.
   */
  readCommit(
    commit: string,
  ): Promise<{ readonly parents: readonly string[]; readonly message: string; readonly files: Readonly<Record<string, string>> } | null>;
  /** Points `branch` at `commit` (an existing commit) as someone else pushing to the forge would. */
  setBranch(branch: string, commit: string): Promise<void>;
}
