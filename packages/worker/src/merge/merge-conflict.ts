import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runGit, type GitLocation } from '@cairn/protocol/workspace';

/** One path a producer's patch could not be merged at. */
export interface ConflictingPath {
  readonly path: string;
  /**
   * The conflicting regions of the file as git's three-way merge left them, each between its
   * markers with two lines around it: `<<<<<<< merged so far`, `=======`, `>>>>>>> <item>`.
   * Empty when git wrote no markers (a binary file, a path one side deleted or added).
   */
  readonly hunks: string;
  /** What git said of the path when it could not merge it at all ("does not exist in index"). */
  readonly reason?: string;
}

/** What git's refusals of a path mean in a merge, by git's words (C locale). */
const gitReasons: Readonly<Record<string, string>> = {
  'does not exist in index': 'this patch changes it; what was merged before deleted or renamed it',
  'already exists in index': 'this patch adds it; what was merged before added it too',
  'already exists in working directory': 'this patch adds it; what was merged before added it too',
  'patch does not apply': 'git found no common version to merge from',
  'does not match index': 'the workspace changed under the merge',
};

function explained(said: string): string {
  const meaning = gitReasons[said];
  return meaning === undefined ? `git: ${said}` : `${meaning}; git: ${said}`;
}

/** Lines of context kept around each conflicting region. */
const contextLines = 2;

/**
 * The paths a failed `git apply --3way` left unmerged (in the index at stages 1–3) or named in its
 * errors, and the hunks of each, in path order. `attempted` is git's standard error.
 */
export async function conflictingPaths(git: GitLocation & { readonly workTree: string }, attempted: string, producer: string): Promise<ConflictingPath[]> {
  const reasons = new Map<string, string>();
  for (const line of attempted.split('\n')) {
    // "error: <path>: <what>", but not the "error: patch failed: <path>:<line>" that precedes one.
    const error = /^error: (?!patch failed: |cannot read the current contents of )(.+): ([^:]+)$/.exec(line);
    if (error && !reasons.has(error[1]!)) reasons.set(error[1]!, explained(error[2]!));
  }
  const listed = await runGit(git, ['ls-files', '--unmerged', '-z']);
  const unmerged = new Set<string>();
  // "<mode> <object> <stage>\t<path>"
  for (const record of listed.stdout.toString('utf8').split('\0')) if (record.includes('\t')) unmerged.add(record.slice(record.indexOf('\t') + 1));
  const paths = [...new Set([...unmerged, ...reasons.keys()])].sort();
  return Promise.all(
    paths.map(async (path) => {
      const reason = reasons.get(path);
      const text = unmerged.has(path) ? await readFile(join(git.workTree, path)).catch(() => undefined) : undefined;
      const hunks = text === undefined || text.includes(0) ? '' : conflictRegions(text.toString('utf8'), producer);
      return { path, hunks, ...(reason === undefined ? {} : { reason }) };
    }),
  );
}

/**
 * The regions between git's conflict markers, with `contextLines` around each, the markers named
 * for what they stand for: what was merged so far (ours) and the producer's patch (theirs).
 */
export function conflictRegions(text: string, producer: string): string {
  const lines = text.split('\n');
  const regions: [start: number, end: number][] = [];
  let open: number | undefined;
  lines.forEach((line, index) => {
    if (line.startsWith('<<<<<<< ') && open === undefined) open = index;
    else if (line.startsWith('>>>>>>> ') && open !== undefined) {
      const start = Math.max(0, open - contextLines);
      const end = Math.min(lines.length - 1, index + contextLines);
      const last = regions.at(-1);
      if (last && start <= last[1] + 1) last[1] = end;
      else regions.push([start, end]);
      open = undefined;
    }
  });
  return regions
    .map(([start, end]) =>
      lines
        .slice(start, end + 1)
        .map((line) => (line === '<<<<<<< ours' ? '<<<<<<< merged so far' : line === '>>>>>>> theirs' ? `>>>>>>> ${producer}` : line))
        .join('\n'),
    )
    .join('\n...\n');
}

/**
 * The conflicts as text, at most `maxBytes` of it (whole paths first; a path's hunks cut with a
 * marker saying how much was left out): every path is named even when its hunks do not fit.
 */
export function conflictReport(conflicts: readonly ConflictingPath[], maxBytes: number): string {
  let left = maxBytes;
  const parts: string[] = [];
  for (const { path, hunks, reason } of conflicts) {
    const heading = `--- ${path}${reason === undefined ? '' : ` (${reason})`}${hunks === '' && reason === undefined ? ' (no text to show: a binary file)' : ''}`;
    left -= Buffer.byteLength(heading) + 1;
    let body = '';
    if (hunks !== '') {
      const size = Buffer.byteLength(hunks);
      body =
        size <= Math.max(0, left)
          ? hunks
          : `${Buffer.from(hunks)
              .subarray(0, Math.max(0, left))
              .toString('utf8')
              .replace(/\uFFFD+$/, '')}\n[… ${size - Math.max(0, left)} more bytes of hunks in the item's stderr log]`;
      left -= Buffer.byteLength(body) + 1;
    }
    parts.push(body === '' ? heading : `${heading}\n${body}`);
  }
  return parts.join('\n');
}
