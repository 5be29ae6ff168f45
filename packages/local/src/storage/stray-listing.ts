import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { StorageStray } from '@cairn/core';
import { errorCode } from './error-code.ts';
import { storageUnavailable } from './storage-errors.ts';
import { isStorageKey } from '@cairn/protocol';

/** Names of the provider's own files start with this (temporary files, the long keys). */
const ownNamePrefix = '.cairn\\';

/**
 * The entries directly in `directory` (the folder of `keyPrefix`) that are not objects: links,
 * FIFOs, sockets, devices, and files or folders whose name no key maps to. Only `readdir`: no
 * entry is opened, read or followed. The provider's own names (`.cairn\…` and the alternate slot
 * `name\`, see LocalStorageProvider) are never strays.
 */
export async function straysIn(directory: string, keyPrefix: string): Promise<StorageStray[]> {
  let entries: Dirent<Buffer>[];
  try {
    entries = await readdir(directory, { withFileTypes: true, encoding: 'buffer' });
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return [];
    throw storageUnavailable('listing strays in a folder', directory, error);
  }
  const strays: StorageStray[] = [];
  for (const entry of entries) {
    const stray = strayOf(entry, keyPrefix);
    if (stray !== undefined) strays.push(stray);
  }
  return strays;
}

function strayOf(entry: Dirent<Buffer>, keyPrefix: string): StorageStray | undefined {
  const rawName = Uint8Array.from(entry.name);
  const name = entry.name.toString('utf8');
  const utf8 = Buffer.from(name, 'utf8').equals(entry.name);
  if (utf8 && name.startsWith(ownNamePrefix)) return undefined;
  if (entry.isSymbolicLink()) return { name, rawName, kind: 'symlink', reason: 'it is a symbolic link, which the storage never follows' };
  if (entry.isFIFO()) return { name, rawName, kind: 'fifo', reason: 'it is a named pipe (FIFO), not a file' };
  if (entry.isSocket()) return { name, rawName, kind: 'socket', reason: 'it is a socket, not a file' };
  if (entry.isBlockDevice() || entry.isCharacterDevice()) return { name, rawName, kind: 'device', reason: 'it is a device, not a file' };
  if (!utf8) return { name, rawName, kind: 'unnamed', reason: 'its name is not valid UTF-8, so no storage key names it' };
  // The alternate slot of a name: the provider's own (see LocalStorageProvider).
  const base = name.endsWith('\\') ? name.slice(0, -1) : name;
  if (base !== name && base !== '' && !base.includes('\\') && isStorageKey(keyPrefix + base)) return undefined;
  if (name.includes('\\')) return { name, rawName, kind: 'unnamed', reason: 'its name holds a backslash, which no storage key may' };
  if (!isStorageKey(keyPrefix + name))
    return { name, rawName, kind: 'unnamed', reason: 'its name holds a control character (a newline, a tab, ...), which no storage key may' };
  return undefined;
}
