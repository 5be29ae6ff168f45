import { createHash } from 'node:crypto';
import { constants, lstatSync, type Stats } from 'node:fs';
import { type FileHandle, link, lstat, mkdir, open, realpath, rename, rmdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type {
  StorageListOptions,
  StorageListPage,
  StorageObjectMetadata,
  StoragePutOptions,
  StoragePutResult,
  StorageProviderV1,
  StorageStray,
} from '@cairn/core';
import {
  assertContentMatchesKey,
  assertDigestMatchesKey,
  CairnError,
  compareStorageKeys,
  digestNamedByKey,
  isCairnError,
  parseSettings,
  storageKeySegments,
} from '@cairn/protocol';
import { z } from 'zod';
import { createTemporaryFile, linkIfAbsent, removeFile, syncDirectory, syncFile, writeTemporaryFile } from './durable-file.ts';
import { errorCode } from './error-code.ts';
import { filePathSchema } from './file-path-schema.ts';
import { longKeysInRange, walkKeys } from './key-listing.ts';
import { decodeListCursor, encodeListCursor } from './list-cursor.ts';
import { ObjectPacks, packsFolder } from './object-packs.ts';
import { folderConflict, storageUnavailable, symbolicLinkRefused } from './storage-errors.ts';
import { straysIn } from './stray-listing.ts';

/** Settings of `createLocalStorageProvider`, checked at construction; errors name `local.storage.<option>`. */
export const localStorageProviderSettingsSchema = z.strictObject({
  /** The directory holding the objects (relative to the working directory); created on first use. */
  root: filePathSchema,
});

export type LocalStorageProviderSettings = z.input<typeof localStorageProviderSettingsSchema>;

const maximumListLimit = 1000;
// File names are at most 255 bytes on Linux file systems, and the alternate slot adds a byte.
const maximumSegmentBytes = 254;
/** Where keys with a segment too long for a file name are kept (a backslash: never a key's folder). */
export const longKeysFolder = '.cairn\\long-keys';
const fileMode = 0o644;
const folderMode = 0o755;
/** How many keys put deferred (in files) are remembered for a durable put to flush. */
const deferredFilesKept = 10_000;

/**
 * Where one key's bytes live: in `directory`, under the name of its last segment (`plain`), or
 * under that name and a backslash (`alternate`) when a folder holds the plain name. A long key
 * has only one place.
 */
interface ObjectLocation {
  readonly directory: string;
  readonly plain: string;
  readonly alternate: string | undefined;
}

/**
 * StorageProviderV1 over a directory: the object `a/b/c` is the file `<root>/a/b/c`, so an
 * operator can read the store with `ls` and drop a run spec into `<root>/inbox/`.
 *
 * - A key may be an object and a folder at once (`a` and `a/b`), which one file name cannot be.
 *   Each name has a second slot, the name and a backslash (never part of a key): whichever of
 *   the object and the folder came second takes it. The object `a` is the file `a`, or `a\` when
 *   `a` is a folder; the folder `a/` is the directory `a`, or else `a\` (made when an object file
 *   held `a`). Folders are never moved or removed, so nothing is ever relocated. (One race is
 *   not covered: deleting the object `a` while the first key below `a/` is written elsewhere
 *   can leave that key in an `a\` nobody reads; Cairn's own keys are never both.)
 * - Nothing resolves outside the root: keys are checked before any I/O, every folder on the way
 *   is checked with `lstat`, and a symbolic link anywhere under the root is refused, never
 *   followed (an object itself is opened with O_NOFOLLOW).
 * - `put` writes a temporary file beside the target, flushes it, then renames (replace) or links
 *   (`ifAbsent`: `link` fails when the name exists, so exactly one concurrent writer wins) and
 *   flushes the folder. Readers see the old or the new bytes, never a torn file. With
 *   `deferFlush` it makes neither flush (ADR 0024): the object is in the kernel's page cache, seen
 *   by every reader and kept when the process is killed, and written back by the kernel later
 *   (within `vm.dirty_expire_centisecs`, 30 s by default); a machine crash before then may lose it
 *   or leave it empty. A content-addressed object found so (emptied or cut short) is replaced
 *   by the next if-absent put of its key, which then reports written. A durable if-absent put
 *   that finds whole an object this instance put deferred flushes it (its file and folder, or its
 *   pack) before it reports not written, writing nothing again (ADR 0059).
 * - A deferred put of a small content-addressed object (a dispatch manifest) is appended to a
 *   pack instead (`ObjectPacks`, ADR 0025): no file, no inode, per manifest. Every method sees a
 *   packed object as any other; a file under the key is looked at first.
 * - `putStream` writes the temporary file chunk by chunk as they come (hashing a content-addressed
 *   key's on the way), then publishes it as `put` does; it is never packed.
 * - Content-addressed keys (`blobs/<hex>`, `manifests/<hex>.json`, as `@cairn/protocol` builds
 *   them) are checked against their digest on `put` and on every `get`.
 * - A key with a segment over 254 bytes (too long for a file name) is kept under
 *   `<root>/.cairn\long-keys/` by the SHA-256 of the key, beside a file holding the key.
 * - Files are created 0644 and folders 0755 (narrowed by the process umask).
 */
export class LocalStorageProvider implements StorageProviderV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'local-directory';
  readonly capabilities = { ifAbsent: true, stream: true, putStream: true, strays: true, deferFlush: true } as const;
  /** The root directory, absolute. */
  readonly root: string;
  #realRoot: Promise<string> | undefined;
  /** Content-addressed families (`manifests`) with no folder of files when first packed into. */
  readonly #filelessFamilies = new Set<string>();
  /** Keys this instance put in files with `deferFlush`, not flushed since (the latest `deferredFilesKept`). */
  readonly #deferredFiles = new Set<string>();
  /** Small content-addressed objects put with `deferFlush` (ADR 0025). */
  readonly #packs = new ObjectPacks(async (intent) => this.#folder(packsFolder, await this.#rootDirectory(), packsFolder, intent, false));

  constructor(settings: LocalStorageProviderSettings) {
    const parsed = parseSettings(localStorageProviderSettingsSchema, settings, 'local.storage');
    this.root = resolve(parsed.root);
  }

  async put(key: string, body: Uint8Array, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    const segments = storageKeySegments(key, 'local');
    // Checked, and (for a pack) copied into its record, before anything is awaited: the caller may
    // reuse its buffer once put returns. A file is written from a copy of our own.
    assertContentMatchesKey(key, body, `put("${key}")`, 'local');
    if (ObjectPacks.packs(key, body.length, options.deferFlush === true))
      return { written: await this.#putPacked(key, segments, body, options.ifAbsent === true) };
    const bytes = Uint8Array.from(body);
    const durable = options.deferFlush !== true;
    for (let attempt = 1; ; attempt += 1) {
      // A write creates the folders on its way, so it always has a location.
      const location = (await this.#locate(key, segments, 'write'))!;
      // A durable if-absent put of an object this instance packed (a deferred put's) and no file
      // holds: the pack is flushed, no file written beside it. Known in memory first, so that other
      // puts never look at their object's name before the link does.
      if (durable && options.ifAbsent === true && this.#packs.knows(key) && !this.#fileAt(key, location) && (await this.#packs.makeDurable(key)))
        return { written: false };
      let temporary: string;
      try {
        temporary = await writeTemporaryFile(location.directory, bytes, fileMode, options.deferFlush !== true);
      } catch (error) {
        // A folder given up by a concurrent writer (see #folder) is looked up again.
        if (errorCode(error) === 'ENOENT' && attempt < 3) continue;
        throw storageUnavailable(`put("${key}"): writing a temporary file`, location.directory, error);
      }
      try {
        const published = await this.#publish(key, location, temporary, options.ifAbsent === true, bytes.length);
        // A deferred put leaves its folder's new entry to the kernel too (it outlives the process).
        if (published === true && durable) await syncDirectory(location.directory);
        if (published === true && !durable) this.#deferred(key);
        // The object found in place may be a deferred put's: a durable put resolves once it is durable.
        if (published !== true && durable) await this.#makeDurable(key, location.directory, published.found);
        return { written: published === true };
      } catch (error) {
        throw asStorageError(error, `put("${key}")`, location.plain);
      } finally {
        await removeFile(temporary).catch(() => undefined);
      }
    }
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    const segments = storageKeySegments(key, 'local');
    const flush = options.deferFlush !== true;
    let location: ObjectLocation;
    let created: Awaited<ReturnType<typeof createTemporaryFile>>;
    for (let attempt = 1; ; attempt += 1) {
      location = (await this.#locate(key, segments, 'write'))!;
      try {
        created = await createTemporaryFile(location.directory, fileMode);
        break;
      } catch (error) {
        // A folder given up by a concurrent writer (see #folder) is looked up again: nothing is read yet.
        if (errorCode(error) === 'ENOENT' && attempt < 3) continue;
        throw storageUnavailable(`putStream("${key}"): creating a temporary file`, location.directory, error);
      }
    }
    const { path: temporary, handle } = created;
    try {
      // What `body` throws passes through as it is (writeChunks reports its own failures).
      const size = await writeChunks(key, body, handle, temporary, flush);
      try {
        const published = await this.#publish(key, location, temporary, options.ifAbsent === true, size);
        if (published === true && flush) await syncDirectory(location.directory);
        if (published === true && !flush) this.#deferred(key);
        if (published !== true && flush) await this.#makeDurable(key, location.directory, published.found);
        return { written: published === true };
      } catch (error) {
        throw asStorageError(error, `putStream("${key}")`, location.plain);
      }
    } finally {
      await handle.close().catch(() => undefined);
      await removeFile(temporary).catch(() => undefined);
    }
  }

  /**
   * Puts a small content-addressed object into a pack, unless a file already holds it: its bytes
   * are the key's, so a sound file is the object (written only if not `ifAbsent`, as nothing
   * changes). A file a machine crash cut short is removed first: a read looks at files first.
   * The look is synchronous, as the append is (see `ObjectPacks.put`).
   */
  async #putPacked(key: string, segments: readonly string[], bytes: Uint8Array, ifAbsent: boolean): Promise<boolean> {
    const path = join(this.root, ...segments);
    let found: Stats | undefined;
    try {
      // The folder first, without following a link: a link there is never a folder of objects. A
      // family with no folder is remembered (the manifests' once every manifest is packed): a
      // folder made later only lets a key that also has a file be packed once more, harmlessly.
      const family = segments[0]!;
      if (this.#filelessFamilies.has(family)) found = undefined;
      else if (lstatSync(join(this.root, family), { throwIfNoEntry: false })?.isDirectory() === true) found = lstatSync(path, { throwIfNoEntry: false });
      else this.#filelessFamilies.add(family);
    } catch (error) {
      throw storageUnavailable(`put("${key}")`, path, error);
    }
    let body = bytes;
    if (found?.isFile() === true) {
      if (!isCutShort(key, found, bytes.length)) return !ifAbsent;
      // The caller's bytes, copied before the wait (see `put`).
      body = Uint8Array.from(bytes);
      await removeFile(path).catch((error: unknown) => {
        throw storageUnavailable(`put("${key}"): removing a file cut short`, path, error);
      });
    }
    return this.#packs.put(key, body, ifAbsent);
  }

  async get(key: string): Promise<Uint8Array | null> {
    const opened = await this.#openObject(key, 'get');
    if (opened === null) return this.#getPacked(key);
    let bytes: Buffer;
    try {
      bytes = await opened.handle.readFile();
    } catch (error) {
      throw storageUnavailable(`get("${key}")`, opened.path, error);
    } finally {
      await opened.handle.close();
    }
    assertContentMatchesKey(key, bytes, `get("${key}") from ${opened.path}`, 'local');
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const opened = await this.#openObject(key, 'getStream');
    if (opened === null) {
      // A packed object is small: read whole (and checked), it streams as one chunk.
      const bytes = await this.#getPacked(key);
      return bytes === null
        ? null
        : (async function* () {
            yield bytes;
          })();
    }
    return readInChunks(key, opened);
  }

  /** A content-addressed key with no file of its own, from the packs: checked against its digest. */
  async #getPacked(key: string): Promise<Uint8Array | null> {
    if (!ObjectPacks.mayPack(key)) return null;
    const bytes = await this.#packs.read(key);
    if (bytes !== null) assertContentMatchesKey(key, bytes, `get("${key}") from a pack`, 'local');
    return bytes;
  }

  async listStrays(prefix: string): Promise<readonly StorageStray[]> {
    const directory = await this.#strayFolder(prefix, 'listStrays');
    return directory === null ? [] : straysIn(directory, prefix);
  }

  async setStrayAside(prefix: string, stray: StorageStray, key: string): Promise<void> {
    const directory = await this.#strayFolder(prefix, 'setStrayAside');
    if (directory === null) return;
    const location = (await this.#locate(key, storageKeySegments(key, 'local'), 'write'))!;
    const target = await this.#objectPath(key, location);
    // The entry itself is renamed, by its raw bytes: a link moves as a link, a FIFO is never opened.
    const source = Buffer.concat([Buffer.from(`${directory}/`, 'utf8'), Buffer.from(stray.rawName)]);
    try {
      await rename(source, target);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return; // gone since the listing
      throw storageUnavailable(`setStrayAside("${prefix}", "${key}")`, target, error);
    }
    await syncDirectory(location.directory).catch(() => undefined);
    await syncDirectory(directory).catch(() => undefined);
  }

  /** The directory of the folder `prefix` (`a/b/`, or `` for the root); null when it does not exist. */
  async #strayFolder(prefix: string, method: string): Promise<string | null> {
    if (prefix === '') return this.#rootDirectory();
    if (!prefix.endsWith('/'))
      throw new CairnError('CAIRN_STORAGE_KEY_INVALID', `${method}("${prefix}"): the prefix must name a folder, ending in "/" (such as inbox/).`, {
        path: 'prefix',
      });
    // A key in the folder locates the folder itself (checked for links on the way like any key).
    const probe = `${prefix}x`;
    const location = await this.#locate(probe, storageKeySegments(probe, 'local'), 'read');
    return location?.directory ?? null;
  }

  /** The object's file, opened for reading; null when there is none. */
  async #openObject(key: string, method: string): Promise<{ handle: FileHandle; path: string } | null> {
    const segments = storageKeySegments(key, 'local');
    const location = await this.#locate(key, segments, 'read');
    if (location === null) return null;
    const path = await this.#objectPath(key, location);
    try {
      // O_NOFOLLOW: a link planted as the object is refused; O_NONBLOCK: a planted FIFO cannot hang the read.
      const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      // A folder made at the plain name since it was looked up: there was no object there.
      if ((await handle.stat()).isFile()) return { handle, path };
      await handle.close();
      return null;
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      if (code === 'ELOOP') throw symbolicLinkRefused(key, path);
      throw storageUnavailable(`${method}("${key}")`, path, error);
    }
  }

  async head(key: string): Promise<StorageObjectMetadata | null> {
    const segments = storageKeySegments(key, 'local');
    const location = await this.#locate(key, segments, 'read');
    if (location !== null) {
      const path = await this.#objectPath(key, location);
      const found = await lstatOrNull(path, `head("${key}")`);
      if (found?.isSymbolicLink()) throw symbolicLinkRefused(key, path);
      if (found?.isFile()) return { key, size: found.size };
    }
    const size = ObjectPacks.mayPack(key) ? await this.#packs.size(key) : null;
    return size === null ? null : { key, size };
  }

  async list(options: StorageListOptions = {}): Promise<StorageListPage> {
    const prefix = options.prefix ?? '';
    const limit = options.limit ?? maximumListLimit;
    if (typeof prefix !== 'string') {
      throw new CairnError('CAIRN_STORAGE_LIST_INVALID', `[cairn] [local] list prefix must be a string, got ${typeof prefix}.`);
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > maximumListLimit) {
      throw new CairnError('CAIRN_STORAGE_LIST_INVALID', `[cairn] [local] list limit must be a whole number from 1 to ${maximumListLimit}, got ${limit}.`);
    }
    const after = options.cursor === undefined ? undefined : decodeListCursor(options.cursor);
    const root = await this.#rootDirectory();
    const range = { prefix, after };
    // Keys kept apart from the tree (long keys, packed objects), sorted, merged into its walk; a
    // packed key that also has a file of its own is listed once.
    const apart = mergeSorted(await longKeysInRange(join(root, longKeysFolder), range), await this.#packs.keysInRange(range));
    // One more than the page, to know whether another page follows.
    const keys: string[] = [];
    let nextApart = 0;
    for await (const key of walkKeys(root, '', range)) {
      while (nextApart < apart.length && compareStorageKeys(apart[nextApart]!, key) <= 0 && keys.length <= limit) {
        const next = apart[nextApart++]!;
        if (next !== key) keys.push(next);
      }
      if (keys.length > limit) break;
      keys.push(key);
      if (keys.length > limit) break;
    }
    while (nextApart < apart.length && keys.length <= limit) keys.push(apart[nextApart++]!);
    const page = keys.slice(0, limit);
    return { keys: page, cursor: keys.length > limit ? encodeListCursor(page[page.length - 1]!) : null };
  }

  async delete(key: string): Promise<void> {
    if (ObjectPacks.mayPack(key)) await this.#packs.delete(key);
    const segments = storageKeySegments(key, 'local');
    const location = await this.#locate(key, segments, 'read');
    if (location === null) return;
    const path = await this.#objectPath(key, location);
    try {
      await unlink(path);
    } catch (error) {
      const code = errorCode(error);
      // EISDIR: a folder made at the plain name since it was looked up; there was no object there.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return;
      throw storageUnavailable(`delete("${key}")`, path, error);
    }
    try {
      await syncDirectory(location.directory);
    } catch (error) {
      throw storageUnavailable(`delete("${key}"): flushing the folder`, location.directory, error);
    }
  }

  /**
   * Renames (or, for `ifAbsent`, links) the temporary file as the object: true when written, else
   * the file found holding the object whole (an if-absent put). `link` never replaces, so of concurrent if-absent puts exactly one links. When a
   * folder takes the plain name meanwhile (EISDIR, or EEXIST on a directory), the object goes to
   * the alternate slot, as readers will look for it.
   */
  async #publish(key: string, location: ObjectLocation, temporary: string, ifAbsent: boolean, size: number): Promise<true | { readonly found: string }> {
    // A link never replaces and fails on whatever holds the plain name (a folder, a link, a file),
    // which the loop then looks at: an if-absent put needs no look of its own first. A rename
    // would replace a link planted there, so a replacing put looks first.
    let path = ifAbsent ? location.plain : await this.#objectPath(key, location);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        if (ifAbsent) await link(temporary, path);
        else await rename(temporary, path);
        return true;
      } catch (error) {
        const code = errorCode(error);
        if (code !== 'EEXIST' && code !== 'EISDIR') throw error;
      }
      const found = await lstatOrNull(path, `put("${key}")`);
      if (found === null) continue; // deleted meanwhile: try again
      if (found.isSymbolicLink()) throw symbolicLinkRefused(key, path);
      if (found.isFile()) {
        if (!isCutShort(key, found, size)) return { found: path };
        // A deferred put a machine crash emptied or cut short: these bytes, its key's, replace it.
        await rename(temporary, path);
        return true;
      }
      if (!found.isDirectory() || path !== location.plain || location.alternate === undefined) break;
      path = location.alternate;
    }
    throw folderConflict(key, path);
  }

  /** Remembers a key put in a file with `deferFlush`, for a durable put of it to flush (`#makeDurable`). */
  #deferred(key: string): void {
    this.#deferredFiles.delete(key);
    this.#deferredFiles.add(key);
    // Bounded: the oldest is forgotten (the kernel has long written it back).
    if (this.#deferredFiles.size > deferredFilesKept) this.#deferredFiles.delete(this.#deferredFiles.values().next().value!);
  }

  /** Whether anything is at either of the key's names (looked at synchronously, as folders are: `#isFolder`). */
  #fileAt(key: string, location: ObjectLocation): boolean {
    for (const path of [location.plain, location.alternate]) {
      if (path === undefined) continue;
      try {
        const found = lstatSync(path, { throwIfNoEntry: false });
        if (found !== undefined && !found.isDirectory()) return true;
      } catch (error) {
        if (errorCode(error) !== 'ENOTDIR') throw storageUnavailable(`put("${key}")`, path, error);
      }
    }
    return false;
  }

  /**
   * Flushes the object's file and its folder entry, together (neither needs the other first: the
   * caller resolves only once both are done). What a durable put that found its key held owes: the
   * object may be one a deferred put left to the kernel (ADR 0059).
   */
  async #makeDurable(key: string, directory: string, path: string): Promise<void> {
    // Only a file this instance put deferred is flushed: any other was flushed by its put (a durable
    // put of bytes already stored, a common case, costs no flush), or by a process before this one.
    if (!this.#deferredFiles.delete(key)) return;
    try {
      await Promise.all([syncFile(path), syncDirectory(directory)]);
    } catch (error) {
      throw storageUnavailable(`put("${key}"): flushing the object already stored`, path, error);
    }
  }

  /** The object's file: the plain name, or the alternate slot when a folder holds the plain name. */
  async #objectPath(key: string, location: ObjectLocation): Promise<string> {
    const found = await lstatOrNull(location.plain, `reaching "${key}"`);
    if (found?.isSymbolicLink()) throw symbolicLinkRefused(key, location.plain);
    return found?.isDirectory() && location.alternate !== undefined ? location.alternate : location.plain;
  }

  /**
   * Where `key` lives. For a write, creates the folders on the way; for a read, resolves `null`
   * when one is missing (the key cannot exist). Every folder is checked with `lstat` from the
   * root down, so a link planted on the way is refused rather than followed.
   */
  async #locate(key: string, segments: readonly string[], intent: 'read' | 'write'): Promise<ObjectLocation | null> {
    const root = await this.#rootDirectory();
    if (segments.some((segment) => Buffer.byteLength(segment, 'utf8') > maximumSegmentBytes)) {
      const directory = join(root, longKeysFolder);
      if ((await this.#folder(key, root, longKeysFolder, intent, false)) === null) return null;
      const name = createHash('sha256').update(key, 'utf8').digest('hex');
      if (intent === 'write') await this.#recordLongKey(key, directory, name);
      return { directory, plain: join(directory, name), alternate: undefined };
    }
    let directory = root;
    for (const segment of segments.slice(0, -1)) {
      const folder = await this.#folder(key, directory, segment, intent, true);
      if (folder === null) return null;
      directory = folder;
    }
    const name = segments[segments.length - 1]!;
    return { directory, plain: join(directory, name), alternate: join(directory, `${name}\\`) };
  }

  /**
   * The folder `segment/` in `directory`: the directory `segment`, or else the directory
   * `segment\` (made when an object file held the plain name). A write creates it: under the
   * plain name when free, under the alternate slot when an object file holds the plain name.
   * Concurrent first writes below one new folder all `mkdir` the plain name and agree on it.
   */
  async #folder(key: string, directory: string, segment: string, intent: 'read' | 'write', slots: boolean): Promise<string | null> {
    const plain = join(directory, segment);
    const alternate = join(directory, `${segment}\\`);
    for (let attempt = 0; attempt < 4; attempt += 1) {
      if (this.#isFolder(key, plain)) return plain;
      if (slots && this.#isFolder(key, alternate)) return alternate;
      if (intent === 'read') return null;
      const found = await lstatOrNull(plain, `reaching "${key}"`);
      if (found?.isDirectory()) continue; // made meanwhile
      if (found !== null && !slots) break;
      const target = found === null ? plain : alternate;
      try {
        await mkdir(target, { mode: folderMode });
      } catch (error) {
        if (errorCode(error) === 'EEXIST') continue; // made meanwhile, or the plain name was taken: look again
        throw storageUnavailable(`creating a folder for "${key}"`, target, error);
      }
      // The object at the plain name was deleted and a folder made there meanwhile: the plain
      // folder is the one everybody looks at first, so this one gives way.
      if (target === alternate && this.#isFolder(key, plain)) {
        await rmdir(alternate).catch(() => undefined);
        continue;
      }
      try {
        await syncDirectory(directory);
      } catch (error) {
        throw storageUnavailable(`creating a folder for "${key}"`, directory, error);
      }
      return target;
    }
    throw folderConflict(key, plain);
  }

  /**
   * Whether `path` is a directory; a link there is refused. Looked at synchronously, as a pack
   * append is: an lstat of a name the kernel has cached takes microseconds, where a look through
   * node's thread pool left the server's main thread waiting, idle — a dispatch pass reads the
   * results of fifty tasks at once, and its next step waits for the slowest (measured: ~0.3 s of a
   * 10,000-item run over HTTP).
   */
  #isFolder(key: string, path: string): boolean {
    let found: Stats | undefined;
    try {
      found = lstatSync(path, { throwIfNoEntry: false });
    } catch (error) {
      if (errorCode(error) === 'ENOTDIR') return false; // a file on the way to it
      throw storageUnavailable(`reaching "${key}"`, path, error);
    }
    if (found?.isSymbolicLink()) throw symbolicLinkRefused(key, path);
    return found?.isDirectory() ?? false;
  }

  /** Writes the key beside a long key's body, before the body: a listing needs it to name the body. */
  async #recordLongKey(key: string, directory: string, name: string): Promise<void> {
    const keyFile = join(directory, `${name}.key`);
    try {
      if ((await lstatOrNull(keyFile, `put("${key}")`)) !== null) return;
      const temporary = await writeTemporaryFile(directory, Buffer.from(key, 'utf8'), fileMode);
      // Another writer may record the same key at once: the same bytes, so either copy will do.
      if (await linkIfAbsent(temporary, keyFile)) await syncDirectory(directory);
    } catch (error) {
      throw asStorageError(error, `put("${key}"): recording the long key`, keyFile);
    }
  }

  /** The real path of the root, created on first use; a failure is retried by the next call. */
  #rootDirectory(): Promise<string> {
    this.#realRoot ??= (async () => {
      await mkdir(this.root, { recursive: true, mode: folderMode });
      return realpath(this.root);
    })().catch((error: unknown) => {
      this.#realRoot = undefined;
      throw storageUnavailable('opening the storage root (setting "local.storage.root")', this.root, error);
    });
    return this.#realRoot;
  }
}

/** Builds a directory storage provider; throws CAIRN_CONFIG_INVALID naming `local.storage.<option>`. */
export function createLocalStorageProvider(settings: LocalStorageProviderSettings): LocalStorageProvider {
  return new LocalStorageProvider(settings);
}

/** Two sorted key lists as one, sorted, each key once. */
function mergeSorted(left: readonly string[], right: readonly string[]): string[] {
  if (right.length === 0) return [...left];
  return [...new Set([...left, ...right])].sort(compareStorageKeys);
}

function lstatOrNull(path: string, what: string): Promise<Stats | null> {
  return statsOrNull(lstat(path), path, what);
}

/** The entry's stats, or null when nothing is at `path` (or a file is on the way to it). */
async function statsOrNull(lookup: Promise<Stats>, path: string, what: string): Promise<Stats | null> {
  try {
    return await lookup;
  } catch (error) {
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return null;
    throw storageUnavailable(what, path, error);
  }
}

/**
 * Whether the file `found` at a content-addressed key is not the object `size` bytes long that
 * the key names (bytes a put checks against the key): what a machine crash leaves of a deferred
 * put, its name with none or part of its bytes. Such a file is no object (every read of it fails
 * with CAIRN_DIGEST_MISMATCH), so an if-absent put may take its place. Told by its size, which the
 * put's look has already read: a sound object is never read again just to be kept. A plain key's
 * bytes are whatever was put.
 */
function isCutShort(key: string, found: Stats, size: number): boolean {
  return digestNamedByKey(key) !== undefined && found.size !== size;
}

/** A CairnError passes through; a system error becomes CAIRN_STORAGE_UNAVAILABLE naming the path. */
function asStorageError(error: unknown, what: string, path: string): unknown {
  return isCairnError(error) ? error : storageUnavailable(what, path, error);
}

/**
 * Writes `body` into an opened temporary file, hashing it when `key` is content-addressed, and
 * flushes it (unless `flush` is false); resolves its length. An error of `body` passes through as
 * it is; a content mismatch is CAIRN_DIGEST_MISMATCH, a failed write CAIRN_STORAGE_UNAVAILABLE.
 */
async function writeChunks(key: string, body: AsyncIterable<Uint8Array>, handle: FileHandle, path: string, flush: boolean): Promise<number> {
  const hash = digestNamedByKey(key) === undefined ? undefined : createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    hash?.update(chunk);
    try {
      // A write may take fewer bytes than given (a signal): the rest is written after.
      for (let offset = 0; offset < chunk.byteLength;) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset, null);
        if (bytesWritten === 0) throw Object.assign(new Error(`writing ${path} made no progress`), { code: 'EIO' });
        offset += bytesWritten;
      }
    } catch (error) {
      throw storageUnavailable(`putStream("${key}"): writing a temporary file`, path, error);
    }
    size += chunk.byteLength;
  }
  if (hash) assertDigestMatchesKey(key, `sha256:${hash.digest('hex')}`, `putStream("${key}")`, 'local');
  if (flush) {
    try {
      await handle.sync();
    } catch (error) {
      throw storageUnavailable(`putStream("${key}"): flushing a temporary file`, path, error);
    }
  }
  return size;
}

/** Chunks an object is streamed in: large enough to keep system calls few, small enough to stay light. */
const streamChunkBytes = 256 * 1024;

/**
 * Reads an opened object chunk by chunk, hashing as it goes when its key is content-addressed.
 * Each chunk is yielded only once the next has been read, so a digest mismatch
 * (CAIRN_DIGEST_MISMATCH) is raised before the last chunk: a reader never receives the whole of
 * an altered object. The file is closed however the reader stops.
 */
async function* readInChunks(key: string, { handle, path }: { handle: FileHandle; path: string }): AsyncGenerator<Uint8Array> {
  const hash = digestNamedByKey(key) === undefined ? undefined : createHash('sha256');
  try {
    let held: Uint8Array | undefined;
    for (;;) {
      const buffer = Buffer.allocUnsafe(streamChunkBytes);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, streamChunkBytes, null));
      } catch (error) {
        throw storageUnavailable(`getStream("${key}")`, path, error);
      }
      if (bytesRead === 0) break;
      const chunk = new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead);
      hash?.update(chunk);
      if (held !== undefined) yield held;
      held = chunk;
    }
    if (hash) assertDigestMatchesKey(key, `sha256:${hash.digest('hex')}`, `getStream("${key}") from ${path}`, 'local');
    if (held !== undefined) yield held;
  } finally {
    await handle.close();
  }
}
