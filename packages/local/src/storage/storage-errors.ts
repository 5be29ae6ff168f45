import { CairnError } from '@cairn/protocol';
import { errorCode } from './error-code.ts';

/** The file system failed under an operation: CAIRN_STORAGE_UNAVAILABLE naming what and where. */
export function storageUnavailable(what: string, path: string, cause: unknown): CairnError {
  const code = errorCode(cause);
  return new CairnError(
    'CAIRN_STORAGE_UNAVAILABLE',
    `[cairn] [local] ${what} failed at ${path}${code === undefined ? '' : ` (${code})`}: check that the directory exists, is on a writable disk and belongs to the user Cairn runs as.`,
    { path, details: { path, ...(code === undefined ? {} : { errno: code }) }, cause },
  );
}

/**
 * A key would be reached through a symbolic link inside the root. Links are never followed: one
 * planted in the root could lead anywhere on the machine.
 */
export function symbolicLinkRefused(key: string, path: string): CairnError {
  return new CairnError(
    'CAIRN_STORAGE_UNAVAILABLE',
    `[cairn] [local] storage key "${key}" is refused: ${path} is a symbolic link, and the local storage provider never follows links (one could lead outside its root). Remove the link.`,
    { path, details: { key, path } },
  );
}

/**
 * The directory holds something the layout does not expect where a key goes (both slots of a
 * name taken by files, a file where the long-keys folder belongs): changed by hand, not by this
 * provider. Said plainly rather than guessed around.
 */
export function folderConflict(key: string, path: string): CairnError {
  return new CairnError(
    'CAIRN_STORAGE_UNAVAILABLE',
    `[cairn] [local] storage key "${key}" cannot be stored: ${path} is in the way (neither the folder nor the object the layout expects there), so the directory was changed outside Cairn. Move ${path} aside and retry.`,
    { path, details: { key, path } },
  );
}
