/** One file of a patch, as `git diff --stat` counts it. */
export interface PatchFileStat {
  readonly path: string;
  readonly added: number;
  readonly removed: number;
  /** A binary change (`GIT binary patch`): no lines to count. */
  readonly binary: boolean;
}

/**
 * What a `git diff --binary` patch changes, file by file: lines added and removed. Lines are
 * counted inside hunks only, so a removed line that reads `-- x` is not mistaken for a `---`
 * header. The path is the new one (`b/`), the old one for a deletion.
 */
export function patchStat(patch: string): PatchFileStat[] {
  const files: { path: string; added: number; removed: number; binary: boolean }[] = [];
  let current: (typeof files)[number] | undefined;
  let inHunk = false;
  for (const line of patch.split('\n')) {
    const header = /^diff --git a\/(.*) b\/(.*)$/.exec(line);
    if (header) {
      current = { path: header[2]!, added: 0, removed: 0, binary: false };
      files.push(current);
      inHunk = false;
      continue;
    }
    if (!current) continue;
    if (line.startsWith('@@')) inHunk = true;
    else if (!inHunk && (line === 'GIT binary patch' || line.startsWith('Binary files '))) current.binary = true;
    else if (inHunk && line.startsWith('+')) current.added++;
    else if (inHunk && line.startsWith('-')) current.removed++;
  }
  return files;
}
