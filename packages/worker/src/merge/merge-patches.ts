import type { DispatchManifest, ManifestInput, MergeRuntimeSpec } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { runGit, type GitLocation } from '@cairn/protocol/workspace';
import { conflictingPaths, conflictReport, type ConflictingPath } from './merge-conflict.ts';

/** What `mergePatches` works on and reports to. */
export interface PatchMerge {
  /** The attempt's git directory and workspace, at its baseline (the snapshot). */
  readonly git: GitLocation & { readonly workTree: string };
  readonly spec: MergeRuntimeSpec;
  /** The manifest's inputs: the patch of each item of `spec.from` that changed something, under its id. */
  readonly inputs: DispatchManifest['inputs'];
  /** The bytes of an input, checked against its digest. */
  readonly fetch: (input: ManifestInput, what: string) => Promise<Uint8Array>;
  /** A line of progress for the attempt's stdout log. */
  readonly log: (line: string) => void;
  /** Stops between patches: the merge then ends `aborted`. */
  readonly signal?: AbortSignal;
}

export type PatchMergeOutcome =
  | { readonly merged: readonly string[]; readonly skipped: readonly string[] }
  | { readonly conflict: CairnError; readonly report: string }
  | { readonly aborted: true };

/** How much of the conflicting hunks the failure's message holds; the stderr log holds more. */
const messageHunkBytes = 8_192;
/** How much of them the stderr log holds. */
const logHunkBytes = 1_048_576;

/**
 * Applies the patch of each item of `spec.from`, in that order, to the workspace and its index with
 * git's three-way merge (`git apply --3way --index`): a patch that does not apply as it is is
 * merged with what is there from the blobs it was made against, which the attempt's repository
 * holds (the same snapshot, and every patch applied before). An item with no patch (it changed
 * nothing) is skipped. The combined change is then the workspace against its baseline, which the
 * worker captures as for any item.
 *
 * The first patch that conflicts ends the merge with CAIRN_MERGE_CONFLICT naming its item, the items
 * merged before it, the paths and their hunks (at most 8 KiB of them in the message; the whole
 * `report` is for the log); the workspace is left as git left it, not to be captured. Throws what
 * `fetch` throws, and an Error when git cannot run at all.
 */
export async function mergePatches(merge: PatchMerge): Promise<PatchMergeOutcome> {
  const merged: string[] = [];
  const skipped: string[] = [];
  for (const [position, from] of merge.spec.from.entries()) {
    if (merge.signal?.aborted) return { aborted: true };
    const input = Object.hasOwn(merge.inputs, from) ? merge.inputs[from] : undefined;
    const patch = input === undefined ? undefined : await merge.fetch(input, `the patch of item ${JSON.stringify(from)} (${input.digest})`);
    if (patch === undefined || patch.byteLength === 0) {
      skipped.push(from);
      merge.log(`[merge] ${from}: changed nothing, skipped`);
      continue;
    }
    const applied = await runGit(merge.git, ['apply', '--3way', '--index', '--binary', '--whitespace=nowarn', '-'], { input: patch });
    if (applied.exitCode === 0) {
      merged.push(from);
      merge.log(`[merge] ${from}: merged (${input!.digest})`);
      continue;
    }
    let conflicts = await conflictingPaths(merge.git, applied.stderr, from);
    // A path git could not merge at all (one side deleted it) fails the whole apply, writing
    // nothing: the rest is merged again without it, so that the failure shows their hunks too.
    const refused = conflicts.filter((conflict) => conflict.reason !== undefined).map((conflict) => conflict.path);
    if (refused.length > 0 && conflicts.every((conflict) => conflict.hunks === '')) {
      const excludes = refused.map((path) => `--exclude=${path.replace(/[\\*?[]/g, '\\$&')}`);
      const rest = await runGit(merge.git, ['apply', '--3way', '--index', '--binary', '--whitespace=nowarn', ...excludes, '-'], { input: patch });
      const again = await conflictingPaths(merge.git, rest.stderr, from);
      conflicts = mergeConflictLists(conflicts, again);
    }
    if (conflicts.length === 0)
      conflicts = [{ path: '(unknown)', hunks: '', reason: applied.stderr.split('\n').slice(0, 6).join('; ') || `git apply exited with ${applied.exitCode}` }];
    return { conflict: mergeConflict(merge.spec, position, merged, conflicts), report: conflictReport(conflicts, logHunkBytes) };
  }
  return { merged, skipped };
}

/** The first list's reasons, with the hunks the second attempt found for the same or other paths. */
function mergeConflictLists(first: readonly ConflictingPath[], second: readonly ConflictingPath[]): ConflictingPath[] {
  const byPath = new Map(first.map((conflict) => [conflict.path, conflict]));
  for (const conflict of second) {
    const earlier = byPath.get(conflict.path);
    byPath.set(conflict.path, earlier?.reason === undefined ? conflict : earlier);
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function mergeConflict(spec: MergeRuntimeSpec, position: number, merged: readonly string[], conflicts: readonly ConflictingPath[]): CairnError {
  const from = spec.from[position]!;
  const before = merged.length === 0 ? 'the workspace' : `what was merged before it (${merged.map((item) => JSON.stringify(item)).join(', ')})`;
  const paths = conflicts.map((conflict) => conflict.path);
  const named = `${paths.length === 1 ? 'path' : `${paths.length} paths`}: ${paths.slice(0, 20).join(', ')}${paths.length > 20 ? `, and ${paths.length - 20} more` : ''}`;
  return new CairnError(
    'CAIRN_MERGE_CONFLICT',
    `The patch of item ${JSON.stringify(from)} (runtime.from[${position}]) conflicts with ${before} at ${named}. Nothing was merged. Make the items change different lines, or have ${JSON.stringify(from)} build on the items before it (needs their patches and applies them), then run again.\n${conflictReport(conflicts, messageHunkBytes)}`,
    { path: `runtime.from[${position}]`, details: { from, position, merged: [...merged], paths } },
  );
}
