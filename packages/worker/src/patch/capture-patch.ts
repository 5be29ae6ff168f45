import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PatchStats } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { gitOutput, runGit, workspacePathProblem } from '@cairn/protocol/workspace';
import type { AttemptWorkspace, BaselineSymlink } from '../git/attempt-workspace.ts';
import { stageChanges } from '../git/baseline-git.ts';
import { parseRawDiff, splitRawAndPatch, type RawDiffEntry } from '../git/raw-diff.ts';
import { readBlobs } from '../git/read-blobs.ts';
import { foldedCollision, portablePathProblem } from './portable-path.ts';
import { scanWorkspace } from './scan-workspace.ts';
import { symlinkEscape } from './symlink-escape.ts';

/** What `capturePatch` checks the change against. */
export interface CapturePatchOptions {
  /** The largest patch accepted, in bytes (the manifest's `limits.maxPatchBytes`). */
  readonly maxPatchBytes: number;
  /** Secret values (by name) that must not appear in a changed file or the patch. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Workspace-relative paths left out of the patch (the `output.json` channel). */
  readonly exclude?: readonly string[];
  /**
   * `portable` (the default): every path the change adds must check out alike on Linux, Windows
   * and macOS (see portablePathProblem and foldedCollision). `posix`: only what git and the worker
   * need (the run's `pathRules: posix`).
   */
  readonly pathRules?: 'portable' | 'posix';
}

/** The change an attempt made, checked. */
export interface CapturedPatch {
  /** `git diff --binary` against the baseline; null when nothing changed. */
  readonly patch: Uint8Array | null;
  readonly stats: PatchStats;
  /** Every changed path, as git reports it. */
  readonly files: readonly RawDiffEntry[];
}

/** Why a patch was refused; `details.rule` of the CAIRN_PAYLOAD_INVALID error. */
export type PatchRefusalRule =
  'workspace-replaced' | 'git-metadata' | 'submodule' | 'special-file' | 'path' | 'portable-path' | 'mode' | 'setuid' | 'symlink-escape' | 'size' | 'secret';

/** The patch's form: binary, renames found, nothing a configuration or attribute could turn into other bytes. */
const patchArguments = ['--binary', '-M', '--no-color', '--no-ext-diff', '--no-textconv', '--src-prefix=a/', '--dst-prefix=b/'] as const;
/**
 * Room for the listing beside a patch at the limit in the one git that prints both: about 100
 * bytes and the paths per changed file. A change whose listing passes it is read the old way (in two).
 */
const listingAllowanceBytes = 1024 * 1024;

const allowedModes = new Set(['100644', '100755', '120000']);
const symlinkMode = '120000';

/**
 * Captures what changed in the workspace since its baseline as a binary git patch and refuses an
 * unsafe one, throwing CAIRN_PAYLOAD_INVALID with `details.rule` and the path: the workspace
 * folder itself swapped for another, `.git` anywhere, a
 * submodule, a FIFO, socket or device anywhere in the workspace, a path git or the worker would
 * not accept, a mode other than 100644/100755/120000, a setuid/setgid/sticky bit on a changed
 * file, a symlink the change makes lead outside the workspace (absolute, or by `..`, also through
 * other symlinks), more than `maxPatchBytes`, or a secret value in a changed file or the patch.
 * The index is left holding the change (`git add --all`).
 */
export async function capturePatch(attempt: AttemptWorkspace, options: CapturePatchOptions): Promise<CapturedPatch> {
  if (!(await attempt.isIntact())) refuse('workspace-replaced', '', `the workspace folder ${attempt.workspace} was replaced (by a symlink or another folder)`);
  // A layered workspace names what may have changed: only that is walked and staged.
  const changed = await attempt.changedPaths();
  if (changed?.length === 0) return { patch: null, stats: { filesChanged: 0, bytes: 0 }, files: [] };
  // The scan and git's own walk read the same tree: run side by side. What git staged is only
  // looked at once the scan found nothing.
  const [hazard, added] = await Promise.all([scanWorkspace(attempt.workspace, changed), stageChanges(attempt.git, changed, options.exclude ?? [])]);
  if (hazard) refuse(hazard.rule, hazard.path, hazard.problem);
  if (added.exitCode !== 0) {
    // The scan covers what git refuses; a message naming an invalid path is still the change's fault.
    if (/invalid path|unable to add/.test(added.stderr)) refuse('path', '', `git refused a path: ${added.stderr.split('\n')[0]}`);
    throw new Error(`git add failed (exit ${added.exitCode}): ${added.stderr}`);
  }
  // One git reads the index and both trees for the listing the checks need and the patch at once
  // (each git over a large tree costs a read of its whole index). The patch is only looked at once
  // the checks passed; when the two together pass the limit with room for the listing, the listing
  // is read alone and the patch again under the limit, as before.
  const both = await runGit(attempt.git, ['diff', '--cached', '--raw', '-z', '--no-abbrev', ...patchArguments, attempt.baseline], {
    maxOutputBytes: options.maxPatchBytes + listingAllowanceBytes,
  });
  if (!both.overflowed && both.exitCode !== 0) throw new Error(`git diff failed (exit ${both.exitCode}): ${both.stderr || 'no message'}`);
  const split = both.overflowed ? undefined : splitRawAndPatch(both.stdout);
  const files = parseRawDiff(split?.raw ?? (await gitOutput(attempt.git, ['diff', '--cached', '--raw', '-z', '-M', '--no-abbrev', attempt.baseline])));
  if (files.length === 0) return { patch: null, stats: { filesChanged: 0, bytes: 0 }, files };
  // The tree a case or normalisation twin is looked for in is listed while the entries are checked.
  const newPaths =
    (options.pathRules ?? 'portable') === 'portable' ? files.filter((file) => file.status !== 'D' && file.status !== 'M' && file.status !== 'T') : [];
  const tree = newPaths.length > 0 ? trackedPaths(attempt) : undefined;
  // Awaited below, unless a refusal comes first: never an unhandled rejection.
  tree?.catch(() => undefined);
  await checkEntries(attempt, files);
  if (tree) checkPortable(newPaths, await tree);
  const secrets = Object.entries(options.secrets ?? {}).filter(([, value]) => value !== '');
  const linksChanged = files.some((file) => file.oldMode === symlinkMode || file.newMode === symlinkMode);
  // One read of the blobs the checks need: new symlink targets, and every changed file when there are secrets to look for.
  const wanted = files.filter((file) => file.status !== 'D' && (file.newMode === symlinkMode || (secrets.length > 0 && file.newMode !== '160000')));
  const blobs = await readBlobs(
    attempt.git,
    wanted.map((file) => file.newObject),
  );
  if (linksChanged) checkSymlinks(await attempt.baselineSymlinks(), files, blobs);
  if (secrets.length > 0) {
    for (const file of wanted) {
      for (const [name, value] of secrets) {
        if (blobs.get(file.newObject)!.includes(value)) refuse('secret', file.path, `${JSON.stringify(file.path)} holds the value of secret ${name}`);
      }
    }
  }
  const patch = split?.patch ?? (await patchUnderLimit(attempt, options.maxPatchBytes));
  if (patch.byteLength > options.maxPatchBytes) refuseSize(options.maxPatchBytes);
  for (const [name, value] of secrets) {
    if (patch.includes(value)) refuse('secret', '', `the patch holds the value of secret ${name}`);
  }
  return {
    patch: new Uint8Array(patch.buffer, patch.byteOffset, patch.byteLength),
    stats: { filesChanged: files.length, bytes: patch.byteLength },
    files,
  };
}

/** `git diff --binary` of the staged change against the baseline, stopped (and refused) past `maxPatchBytes`. */
async function patchUnderLimit(attempt: AttemptWorkspace, maxPatchBytes: number): Promise<Buffer> {
  const diff = await runGit(attempt.git, ['diff', '--cached', ...patchArguments, attempt.baseline], { maxOutputBytes: maxPatchBytes });
  if (diff.overflowed) refuseSize(maxPatchBytes);
  if (diff.exitCode !== 0) throw new Error(`git diff failed (exit ${diff.exitCode}): ${diff.stderr}`);
  return diff.stdout;
}

function refuseSize(maxPatchBytes: number): never {
  refuse('size', '', `the patch is larger than the limit of ${maxPatchBytes} bytes (limits.maxPatchBytes)`);
}

async function checkEntries(attempt: AttemptWorkspace, files: readonly RawDiffEntry[]): Promise<void> {
  for (const file of files) {
    for (const path of new Set([file.oldPath, file.path])) {
      const problem = workspacePathProblem(path);
      if (problem !== undefined) refuse('path', path, `${JSON.stringify(path)} ${problem}`);
    }
    if (file.status === 'D') continue;
    if (file.newMode === '160000') refuse('submodule', file.path, `${JSON.stringify(file.path)} is a submodule (a gitlink); submodules are refused`);
    if (!allowedModes.has(file.newMode))
      refuse('mode', file.path, `${JSON.stringify(file.path)} has mode ${file.newMode}; only 100644, 100755 and 120000 are accepted`);
  }
  // git records only the executable bit, so these bits could not travel anyway; a runtime setting
  // them is up to something, and the attempt says so rather than dropping them quietly.
  await Promise.all(
    files
      .filter((file) => file.status !== 'D' && file.newMode !== symlinkMode)
      .map(async (file) => {
        const stats = await lstat(join(attempt.workspace, file.path)).catch(() => undefined);
        if (stats && (stats.mode & 0o7000) !== 0) {
          const bits = [stats.mode & 0o4000 ? 'setuid' : '', stats.mode & 0o2000 ? 'setgid' : '', stats.mode & 0o1000 ? 'sticky' : '']
            .filter(Boolean)
            .join('/');
          refuse('setuid', file.path, `${JSON.stringify(file.path)} has the ${bits} bit set (mode ${(stats.mode & 0o7777).toString(8)})`);
        }
      }),
  );
}

/**
 * Refuses paths the change adds that would not check out alike on Windows and macOS: a name those
 * systems refuse or alter, and two paths one case-insensitive file would hold. Paths the baseline
 * already had are the user's own and are not held against the attempt.
 */
function checkPortable(added: readonly RawDiffEntry[], tree: readonly string[]): void {
  for (const file of added) {
    const problem = portablePathProblem(file.path, file.validUtf8);
    if (problem !== undefined)
      refuse(
        'portable-path',
        file.path,
        `${JSON.stringify(file.path)} ${problem}; it would not check out on every system (set pathRules: posix on the item to allow it)`,
      );
  }
  // A modified file cannot make a new collision: only added or renamed paths are looked for.
  const collision = foldedCollision(tree, new Set(added.map((file) => file.path)));
  if (collision)
    refuse(
      'portable-path',
      collision[1],
      `${JSON.stringify(collision[1])} and ${JSON.stringify(collision[0])} differ only in case or Unicode normalisation: Windows and macOS would hold them as one file (set pathRules: posix on the item to allow it)`,
    );
}

/** Every path the index holds after the change. */
async function trackedPaths(attempt: AttemptWorkspace): Promise<string[]> {
  return (await gitOutput(attempt.git, ['ls-files', '-z']))
    .toString('utf8')
    .split('\0')
    .filter((path) => path !== '');
}

/**
 * Refuses symlinks that lead outside the workspace after the change but did not before it: the
 * user's own baseline may hold an absolute link (that is theirs), but the attempt may neither add
 * one nor, by adding, removing or retargeting another link, make an existing one escape. The links
 * after the change are the baseline's with the diff applied (renames move them, deletions and type
 * changes drop them), so only new link targets need reading.
 */
function checkSymlinks(baselineSymlinks: ReadonlyMap<string, BaselineSymlink>, files: readonly RawDiffEntry[], blobs: ReadonlyMap<string, Buffer>): void {
  const before = new Map([...baselineSymlinks].map(([path, link]) => [path, link.target]));
  const after = new Map(before);
  for (const file of files) {
    if (file.status === 'R' || file.status === 'D') after.delete(file.oldPath);
    if (file.status === 'D') continue;
    if (file.newMode === symlinkMode) after.set(file.path, blobs.get(file.newObject)!.toString('utf8'));
    else after.delete(file.path);
  }
  for (const path of [...after.keys()].sort()) {
    const escape = symlinkEscape(path, after);
    if (escape === undefined) continue;
    if (before.get(path) === after.get(path) && symlinkEscape(path, before) !== undefined) continue;
    refuse('symlink-escape', path, `the symlink ${JSON.stringify(path)} -> ${JSON.stringify(after.get(path))} ${escape}`);
  }
}

function refuse(rule: PatchRefusalRule, path: string, problem: string): never {
  throw new CairnError(
    'CAIRN_PAYLOAD_INVALID',
    `The attempt's change was refused: ${problem}. Nothing was stored as its patch; change the item so that it leaves only plain files and symlinks inside the workspace.`,
    { ...(path === '' ? {} : { path }), details: { rule } },
  );
}
