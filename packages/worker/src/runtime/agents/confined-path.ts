import { lstat, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** A path the model asked for, checked to stay in the workspace; or why it was refused. */
export type ConfinedPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string };

/**
 * Resolves a path a model gave a file tool against the workspace, or refuses it. The file tools
 * run in the worker's own process, outside the sandbox, so this check is all that keeps them in the
 * workspace: absolute paths and `..` escapes are refused as written, and symbolic links are
 * followed with realpath so a link inside the workspace cannot lead outside it.
 *
 * `root` must already be a real path (no symbolic links in it). For `existing`, the path must
 * exist and its real path is returned. For `write`, the path may not exist yet: its deepest existing
 * ancestor must resolve inside the workspace, and the returned path is that ancestor's real path
 * plus the components still to be created, so writing to it follows no link (open it with
 * O_NOFOLLOW). A link whose target is missing is refused: writing through it would create the
 * target wherever the link points.
 */
export async function resolveConfinedPath(root: string, requested: string, purpose: 'existing' | 'write'): Promise<ConfinedPath> {
  if (requested === '') return { ok: false, reason: 'the path is empty; give a path relative to the workspace' };
  if (requested.includes('\0')) return { ok: false, reason: 'the path contains a NUL byte' };
  if (isAbsolute(requested)) return { ok: false, reason: 'absolute paths are refused; give a path relative to the workspace' };
  const lexical = resolve(root, requested);
  if (!isInside(root, lexical)) return { ok: false, reason: 'the path leads out of the workspace (..)' };

  if (purpose === 'existing') {
    const real = await realpathOrUndefined(lexical);
    if (real === undefined) return { ok: false, reason: 'no such file or directory' };
    return isInside(root, real) ? { ok: true, path: real } : { ok: false, reason: outsideReason };
  }

  const own = await lstatOrUndefined(lexical);
  if (own) {
    const real = await realpathOrUndefined(lexical);
    if (real === undefined) return { ok: false, reason: 'the path is a symbolic link whose target does not exist; writing through it is refused' };
    return isInside(root, real) ? { ok: true, path: real } : { ok: false, reason: outsideReason };
  }
  // Walk up to the deepest ancestor that exists: the components below it are created by the write.
  let ancestor = dirname(lexical);
  while (ancestor !== root && !(await lstatOrUndefined(ancestor))) ancestor = dirname(ancestor);
  const realAncestor = await realpathOrUndefined(ancestor);
  if (realAncestor === undefined) return { ok: false, reason: 'a directory on the path is a symbolic link whose target does not exist' };
  if (!isInside(root, realAncestor)) return { ok: false, reason: outsideReason };
  return { ok: true, path: join(realAncestor, relative(ancestor, lexical)) };
}

const outsideReason = 'the path goes through a symbolic link that points outside the workspace';

/** Whether `candidate` is `root` or below it (both absolute and normalised). */
export function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function realpathOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
