// The change each item of the workspace benchmark makes, and the check that a patch is that change
// and nothing else. A generated text file's first line is a comment naming the file itself
// (generated-repository.ts), so the expected line is known without reading the file.

export interface OneLineEdit {
  /** The file, relative to the workspace. */
  readonly path: string;
  /** The command that makes the change, run in the workspace. */
  readonly argv: readonly string[];
  /** What the change appends to the first line. */
  readonly marker: string;
}

export function oneLineEdit(path: string, item: number): OneLineEdit {
  const marker = `edited-by-item-${item}`;
  return { path, marker, argv: ['sed', '-i', `1s/$/ ${marker}/`, path] };
}

/**
 * Throws unless `patch` (a `git diff` text) changes one file's first line — the line naming `path`
 * — into itself plus the marker, and nothing else. With `header`, the patch must name `path` as
 * the changed file (a workspace's patch does; one taken with `git diff --no-index` names the two
 * folders' copies instead).
 */
export function checkOneLineChange(patch: string, edit: OneLineEdit, options: { readonly header: boolean }): void {
  const lines = patch.split('\n');
  const files = lines.filter((line) => line.startsWith('diff --git '));
  const removed = lines.filter((line) => line.startsWith('-') && !line.startsWith('--- '));
  const added = lines.filter((line) => line.startsWith('+') && !line.startsWith('+++ '));
  const expectedHeader = `diff --git a/${edit.path} b/${edit.path}`;
  const ok =
    files.length === 1 &&
    (!options.header || files[0] === expectedHeader) &&
    removed.length === 1 &&
    added.length === 1 &&
    removed[0]!.endsWith(` ${edit.path}`) &&
    added[0] === `+${removed[0]!.slice(1)} ${edit.marker}`;
  if (!ok) throw new Error(`the patch of the edit of ${edit.path} is not its one-line change:\n${patch.slice(0, 2_000)}`);
}
