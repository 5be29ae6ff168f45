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
  // Nor can one that starts with a plain ASCII character other than `.` and `g`: removing the
  // ignorable code points and lowering the case leave that first character, and both forms
  // start with `.` or `g` (most segments that hold a g are done with here).
  const first = segment.charCodeAt(0);
  if (first < 0x80 && first !== 0x2e && first !== 0x67 && first !== 0x47) return false;
  const folded = segment.replace(hfsIgnorable, '').toLowerCase();
  return /^\.git[. ]*$/.test(folded) || /^git~\d+$/.test(folded);
}

// Segments, none empty, each starting with a plain ASCII character other than `.` and `g` (so
// neither `.`, `..` nor git metadata, see isGitMetadataName), holding no NUL: a path with none of
// the problems below, told in one scan. Most paths of a workspace are, and a snapshot checks each.
const plainPath = /^[^\0/.gG\u0080-\uffff][^\0/]*(?:\/[^\0/.gG\u0080-\uffff][^\0/]*)*$/;

/**
 * What is wrong with a workspace-relative path (`/`-separated), or undefined when it is a plain
 * path inside the workspace and outside git metadata.
 */
export function workspacePathProblem(path: string): string | undefined {
  if (plainPath.test(path)) return undefined;
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
