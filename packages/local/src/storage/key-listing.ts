import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode } from './error-code.ts';
import { storageUnavailable } from './storage-errors.ts';
import { compareStorageKeys, isStorageKey } from '@cairn/protocol';

/** Which keys a listing wants: those starting with `prefix` and sorting after `after`. */
export interface KeyRange {
  readonly prefix: string;
  readonly after: string | undefined;
}

/** Whether `key` is in range (after `after` in UTF-8 byte order, as StorageProviderV1 lists keys). */
export function inRange(key: string, range: KeyRange): boolean {
  return key.startsWith(range.prefix) && (range.after === undefined || compareStorageKeys(key, range.after) > 0);
}

/** Whether a folder whose keys all start with `folderPrefix` (ending in "/") can hold a key in range. */
function folderMayHold(folderPrefix: string, range: KeyRange): boolean {
  if (!folderPrefix.startsWith(range.prefix) && !range.prefix.startsWith(folderPrefix)) return false;
  // Every key in the folder is >= its prefix; all are <= `after` only when the prefix is below
  // `after` and `after` is not itself inside the folder.
  return range.after === undefined || compareStorageKeys(folderPrefix, range.after) > 0 || range.after.startsWith(folderPrefix);
}

/** The two names one segment may use in a folder (see LocalStorageProvider): `name` and `name\`. */
interface NameSlots {
  plain?: Dirent<Buffer>;
  alternate?: Dirent<Buffer>;
}

/**
 * The keys stored under `directory`, in ascending UTF-8 byte order, lazily, so a page stops
 * reading the tree once it is full. Within one folder, an object contributes its name and a
 * folder its name and "/"; sorting those by bytes and descending in that order yields keys in
 * byte order, and folders that cannot hold a key in range are never opened. Names no key maps to
 * (temporary files, the long-keys folder, names that are not UTF-8 or hold a control character)
 * are skipped, and so are links, sockets and FIFOs: never objects.
 */
export async function* walkKeys(directory: string, keyPrefix: string, range: KeyRange): AsyncGenerator<string> {
  let entries: Dirent<Buffer>[];
  try {
    entries = await readdir(directory, { withFileTypes: true, encoding: 'buffer' });
  } catch (error) {
    // A folder removed while the listing ran holds nothing any more.
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
    throw storageUnavailable('listing a folder', directory, error);
  }
  const slots = new Map<string, NameSlots>();
  for (const entry of entries) {
    const name = entry.name.toString('utf8');
    if (!Buffer.from(name, 'utf8').equals(entry.name)) continue;
    const alternate = name.endsWith('\\');
    const base = alternate ? name.slice(0, -1) : name;
    // Any other backslash marks a name of the provider's own (a temporary file, the long keys).
    if (base === '' || base.includes('\\')) continue;
    const slot = slots.get(base) ?? {};
    if (alternate) slot.alternate = entry;
    else slot.plain = entry;
    slots.set(base, slot);
  }
  const candidates: { text: string; sortKey: Buffer; folder: string | undefined }[] = [];
  for (const [name, slot] of slots) {
    const key = keyPrefix + name;
    if (!isStorageKey(key)) continue;
    const plainIsFolder = slot.plain?.isDirectory() === true;
    if (slot.plain?.isFile() === true || (plainIsFolder && slot.alternate?.isFile() === true)) {
      candidates.push({ text: key, sortKey: Buffer.from(key, 'utf8'), folder: undefined });
    }
    const folder = plainIsFolder ? name : slot.alternate?.isDirectory() === true ? `${name}\\` : undefined;
    if (folder !== undefined) candidates.push({ text: `${key}/`, sortKey: Buffer.from(`${key}/`, 'utf8'), folder: join(directory, folder) });
  }
  candidates.sort((left, right) => Buffer.compare(left.sortKey, right.sortKey));
  for (const candidate of candidates) {
    if (candidate.folder === undefined) {
      if (inRange(candidate.text, range)) yield candidate.text;
    } else if (folderMayHold(candidate.text, range)) {
      yield* walkKeys(candidate.folder, candidate.text, range);
    }
  }
}

/**
 * The long keys in range, sorted. Each is kept as `<sha256 of key>` (the body) beside
 * `<sha256 of key>.key` (the key itself, written before the body is published); a body whose key
 * file is missing or does not hash to its name is not an object.
 */
export async function longKeysInRange(folder: string, range: KeyRange): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw storageUnavailable('listing long keys', folder, error);
  }
  const present = new Set(names);
  const keys: string[] = [];
  for (const name of names) {
    if (!/^[0-9a-f]{64}$/.test(name) || !present.has(`${name}.key`)) continue;
    let key: string;
    try {
      key = await readFile(join(folder, `${name}.key`), 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') continue;
      throw storageUnavailable('reading a long key', join(folder, `${name}.key`), error);
    }
    if (createHash('sha256').update(key, 'utf8').digest('hex') === name && isStorageKey(key) && inRange(key, range)) keys.push(key);
  }
  return keys.sort(compareStorageKeys);
}
