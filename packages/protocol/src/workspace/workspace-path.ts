// Code points macOS (HFS+) ignores in file names: `.g\u200cit` is `.git` there.
const hfsIgnorable = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/**
 * Whether a path segment names git metadata on some file system the patch may be applied on: `.git`
 * in any case, with the trailing dots or spaces Windows drops, with code points macOS ignores, or
 * as its Windows short name (`GIT~1`).
 */
export function isGitMetadataName(segment: string): boolean {
  // Every such name holds a g, whatever else it holds: most segments are done with here (a
  // snapshot checks every segment of every path, 38,000 paths in a large workspace).
  if (!segment.includes('g') && !segment.includes('G')) return false;
  const folded = segment.replace(hfsIgnorable, '').toLowerCase();
  return /^\.git[. ]*$/.test(folded) || /^git~\d+$/.test(folded);
}

/**
 * What is wrong with a workspace-relative path (`/`-separated), or undefined when it is a plain
 * path inside the workspace and outside git metadata.
 */
export function workspacePathProblem(path: string): string | undefined {
  if (path === '') return 'is empty';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (path.startsWith('/')) return 'is absolute';
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '.' || segment === '..') return `has a "${segment}" segment`;
    if (isGitMetadataName(segment)) return `is inside git metadata ("${segment}")`;
  }
  return undefined;
}
