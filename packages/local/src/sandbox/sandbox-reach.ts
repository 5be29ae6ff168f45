import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CairnError } from '@cairn/protocol';

/** A folder on the way to the work root that sandboxes cannot pass through, and its mode. */
interface ClosedFolder {
  readonly folder: string;
  /** Its permission bits (`0o700`). */
  readonly mode: number;
}

/**
 * The existing folders on the way to `path` (itself included), root first, that a sandbox cannot
 * pass through. The local executor starts bubblewrap as the sandbox's own unprivileged uid
 * (setpriv, one uid of executor.uids each, with no supplementary groups), and bubblewrap binds
 * the attempt's workspace under the work root as that uid: it needs search (x) permission on
 * every folder above the workspace. Such a uid owns none of them and is in none of their groups,
 * so it is the `other` bit that counts. Without it, every item fails at once with bubblewrap's
 * "Can't find source path ...: Permission denied" (a folder made by `mktemp -d`, 0700, or a home
 * folder without o+x). Folders not made yet are not listed: the executor makes them 0711.
 */
function closedFoldersAbove(path: string): ClosedFolder[] {
  const closed = new Map<string, ClosedFolder>();
  // The folders on the way as written, and, past a symbolic link, those of where it leads: the
  // kernel needs search permission on both to resolve the path.
  let existing = resolve(path);
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  for (const start of [resolve(path), realpathSync(existing)])
    for (let folder = start; ; folder = dirname(folder)) {
      if (!closed.has(folder) && existsSync(folder)) {
        const mode = statSync(folder).mode & 0o7777;
        if ((mode & 0o001) === 0) closed.set(folder, { folder, mode });
      }
      if (dirname(folder) === folder) break;
    }
  // Root first, as a reader goes down the path.
  return [...closed.values()].sort((a, b) => a.folder.split('/').length - b.folder.split('/').length);
}

/** A mode as `chmod` and `ls -l` readers know it: `0700`. */
function octalMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** The command that opens `closed` to sandboxes: passable (o+x), still not listable by others. */
function chmodCommand(closed: readonly ClosedFolder[]): string {
  return `chmod o+x ${closed.map(({ folder }) => (/^[\w./@+-]+$/.test(folder) ? folder : `'${folder.replaceAll("'", `'\\''`)}'`)).join(' ')}`;
}

/**
 * Why sandboxes could not reach their workspaces under `workRoot`, if they could not: a
 * CAIRN_CONFIG_INVALID naming each closed folder with its mode and the `chmod` that opens it
 * (`details.chmod`), for `cairn init`, `cairn serve` and `cairn runner` to refuse with before anything
 * is written or started, and for `cairn doctor` to report. `option` is the config option that places the work
 * root (`config.dataDirectory`, or `config.executor.workRoot` when that is set).
 */
export function sandboxReachRefusal(workRoot: string, option: string): CairnError | undefined {
  const closed = closedFoldersAbove(workRoot);
  if (closed.length === 0) return undefined;
  const named = closed.map(({ folder, mode }) => `${folder} (mode ${octalMode(mode)})`).join(', ');
  const chmod = chmodCommand(closed);
  return new CairnError(
    'CAIRN_CONFIG_INVALID',
    `Sandboxes could not reach their workspaces under ${workRoot}: ${named} ${closed.length === 1 ? 'does' : 'do'} not let other users pass through, and each sandbox runs as a uid of its own, which must pass through every folder above its workspace (every item would fail with bubblewrap's "Can't find source path ... Permission denied"). Run \`${chmod}\` (passable, still not listable by others), or place ${option} in a folder others can pass through.`,
    { path: option, details: { workRoot, closed: closed.map(({ folder, mode }) => ({ folder, mode: octalMode(mode) })), chmod } },
  );
}
