import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, open as openCallback, unlinkSync, writeSync } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { compareStorageKeys, digestNamedByKey, isCairnError, sha256Digest } from '@cairn/protocol';
import { syncDirectory, syncFile } from './durable-file.ts';
import { errorCode } from './error-code.ts';
import { inRange, type KeyRange } from './key-listing.ts';
import { storageUnavailable, symbolicLinkRefused } from './storage-errors.ts';

/** Where packs are kept under the root (a backslash: never a key's folder, so never listed as one). */
export const packsFolder = '.cairn\\packs';
/** The largest object packed: a dispatch manifest is a few kilobytes; anything larger keeps a file. */
export const packedObjectMaxBytes = 64 * 1024;
/** The key families a pack may hold (the content-addressed ones): a listing outside them never reads packs. */
const packedFamilies = ['blobs/', 'manifests/'];

const recordMagic = 0x43504b31; // "CPK1"
/** A record: magic (u32), key length (u16), body length (u32), then the key (UTF-8) and the body. */
const headerBytes = 10;
const fileMode = 0o644;
const folderMode = 0o755;

/** A record as appended to a pack: its bytes, and where its body is in them. */
interface PackRecord {
  readonly bytes: Buffer;
  readonly bodyOffset: number;
  readonly bodyLength: number;
}

/**
 * The record of `key` and its body, in memory of its own. From Node's pool (`allocUnsafe`: every
 * byte is written just below) rather than a zeroed buffer of its own: a manifest's record is about
 * 2 KB, and the server appends one a dispatched item.
 */
function packRecord(key: string, body: Uint8Array): PackRecord {
  const keyLength = Buffer.byteLength(key, 'utf8');
  const bodyOffset = headerBytes + keyLength;
  const bytes = Buffer.allocUnsafe(bodyOffset + body.length);
  bytes.writeUInt32BE(recordMagic, 0);
  bytes.writeUInt16BE(keyLength, 4);
  bytes.writeUInt32BE(body.length, 6);
  bytes.write(key, headerBytes, 'utf8');
  bytes.set(body, bodyOffset);
  return { bytes, bodyOffset, bodyLength: body.length };
}

/** Where a packed object's bytes are: `length` bytes at `offset` of the shard's pack file `file`. */
interface PackedObject {
  readonly file: string;
  readonly offset: number;
  readonly length: number;
  /** Whether its body is known to hash to the digest its key names (checked when first used). */
  verified: boolean;
  /** A record of the same key read before this one (two writers put it at once), if any. */
  earlier?: PackedObject | undefined;
}

/** One shard: the packs of the keys whose digest starts with its two hex digits. */
interface Shard {
  readonly name: string;
  /** How far each pack file has been read: up to its first record not yet whole (or for good, past one that is damaged). */
  readonly read: Map<string, number>;
  /** The last record read of each key, before the others (`earlier`): any whose body holds is the object (a key names its bytes). */
  readonly objects: Map<string, PackedObject>;
  /** This instance's own pack file in the shard, open for appending, and its size: no other writer appends to it. */
  own: { readonly name: string; readonly descriptor: number; size: number } | undefined;
  /** This instance's work on the shard, one at a time: its appends land in order and a look never sees half of one of its own. */
  queue: Promise<unknown>;
  /** Whether this instance made (or found) the shard's folder. */
  made: boolean;
  /** The path of the shard's deletion markers' folder, once known. */
  markers?: string;
  /** Whether the names on the way to its own pack (the pack's, the shard's) were flushed since that pack was made. */
  namesDurable?: boolean;
}

/** The packs folder: made for a write, null for a read when it does not exist; a link there is refused. */
export type PacksFolder = (intent: 'read' | 'write') => Promise<string | null>;

/**
 * Small content-addressed objects put with `deferFlush` (dispatch manifests), appended to pack
 * files instead of each getting a file of its own (ADR 0025): a file made per manifest cost the
 * server more in the kernel (allocating inodes on ext4) than the rest of the dispatch.
 *
 * - Packs are sharded by the first two hex digits of the key's digest, `<root>/.cairn\packs/<xx>/`,
 *   so a reader that knows a key reads 1/256 of what is packed. Each provider instance appends
 *   to a file of its own in a shard (`<time>-<pid>-<random>.pack`), so writers never interleave
 *   and a record cut short (a write that failed, a machine crash) can only be a file's last one.
 * - A record is an object only when its body hashes to the digest its key names: a torn or
 *   damaged record is no object, as a cut-short file is not. Readers index each file
 *   incrementally, by the records' headers, and hash a record's body when its object is first
 *   used (read, headed, listed, put again): a reader in a fresh process that wants one object
 *   hashes that one, not its whole shard.
 * - A packed object is deleted with a marker file (`deleted/<sha256 of key>`) in its shard;
 *   a later put of the key removes it. Pack files are never rewritten.
 * - Durability is `deferFlush`'s (ADR 0024): an append outlives the process at once and reaches
 *   the disk when the kernel writes it back.
 * - An if-absent put reports `written: false` when this instance knows the key is packed (or a
 *   file holds it); a put of the same key from another process at the same moment may append a
 *   second copy of the same bytes, and both report written. Either copy is the object.
 */
export class ObjectPacks {
  readonly #folder: PacksFolder;
  /** The packs folder once found: folders are never moved or removed. */
  #found: string | undefined;
  readonly #shards = new Map<string, Shard>();
  /** The descriptors of this instance's own pack files, closed once the instance is collected (the seam has no close). */
  readonly #descriptors = new Set<number>();
  /** Whether the packs folder's name in the root has been flushed. */
  #rootNameDurable = false;

  constructor(folder: PacksFolder) {
    this.#folder = folder;
    openPacks.register(this, this.#descriptors);
  }

  /** Whether a put of `key` with these bytes and options goes to a pack. */
  static packs(key: string, size: number, deferFlush: boolean): boolean {
    return deferFlush && size <= packedObjectMaxBytes && ObjectPacks.mayPack(key);
  }

  /** Whether a pack may hold `key`: it is content-addressed. Other keys are never looked for in packs. */
  static mayPack(key: string): boolean {
    return digestNamedByKey(key) !== undefined;
  }

  /** Whether a listing of `prefix` may meet packed keys. */
  static mayHold(prefix: string): boolean {
    return packedFamilies.some((family) => family.startsWith(prefix) || prefix.startsWith(family));
  }

  /**
   * Appends the object unless (`ifAbsent`) it is known to be packed; says whether it appended.
   * Its record is made from `bytes` at the call, before anything is awaited: the record is this
   * instance's own copy, so the caller may change or reuse `bytes` as soon as `put` returns.
   */
  put(key: string, bytes: Uint8Array, ifAbsent: boolean): Promise<boolean> {
    const record = packRecord(key, bytes);
    return this.#inShard(key, async (shard) => {
      const directory = (await this.#shardFolder(shard, 'write'))!;
      // Synchronous from here, as the engine's own SQLite writes are: an lstat and an append to a
      // file in the page cache take microseconds, where each of node's promise-based calls cost
      // the server's main thread tens of them (measured: 2.2 s of a 30,000-item profile).
      // A shard with no deletions (the rule: Cairn deletes no manifest) has no marker folder, and
      // one look at a name the kernel has cached says so; a marker per key would be a new name
      // (an uncached directory lookup) at every put.
      const markers = markersFolder(shard, directory);
      const marker = markersFolderExists(markers, key) ? join(markers, deletionMarkerName(key)) : undefined;
      const deleted = marker !== undefined && exists(marker, key);
      // Packed already: the same bytes (the key names them), so nothing is appended again. A
      // record of the key this instance has not hashed yet (rare: another writer's) is hashed now.
      if (!deleted && shard.objects.has(key) && (await this.#holding(shard, directory, key))?.length === record.bodyLength) return !ifAbsent;
      if (shard.own === undefined) {
        shard.own = await this.#openOwnPack(directory, key);
        shard.namesDurable = false;
      }
      this.#append(shard, shard.own, directory, key, record);
      if (deleted) {
        try {
          unlinkSync(marker);
        } catch (error) {
          if (errorCode(error) !== 'ENOENT') throw storageUnavailable(`put("${key}"): removing its deletion marker`, marker, error);
        }
      }
      return true;
    });
  }

  /** Whether this instance has seen `key` packed (appended it, or read it): a look in memory, no I/O. */
  knows(key: string): boolean {
    const digest = digestNamedByKey(key);
    return digest !== undefined && this.#shards.get(digest.slice('sha256:'.length, 'sha256:'.length + 2))?.objects.has(key) === true;
  }

  /**
   * Makes the packed object durable, for a durable put that finds it packed: its pack's bytes and
   * the names on the way to the pack (which a deferred put left to the kernel). False when no pack
   * holds it (or it was deleted): nothing was flushed.
   */
  makeDurable(key: string): Promise<boolean> {
    return this.#inShard(key, async (shard) => {
      const directory = await this.#shardFolder(shard, 'read');
      const found = directory === null ? null : await this.#find(shard, directory, key);
      if (found === null) return false;
      const pack = join(directory!, found.file);
      const packs = (await this.#packsFolder('read'))!;
      // The names on the way (the pack's in the shard, the shard's in the packs folder, the packs
      // folder's in the root) once for this instance's own pack; another writer's pack each time.
      const own = found.file === shard.own?.name;
      const flushes = [syncFile(pack)];
      if (!own || shard.namesDurable !== true) flushes.push(syncDirectory(directory!), syncDirectory(packs));
      if (!this.#rootNameDurable) flushes.push(syncDirectory(dirname(packs)));
      try {
        await Promise.all(flushes);
      } catch (error) {
        throw storageUnavailable(`put("${key}"): flushing the pack that holds it`, pack, error);
      }
      if (own) shard.namesDurable = true;
      this.#rootNameDurable = true;
      return true;
    });
  }

  /** The packed object's bytes, or null when no pack holds it (or it was deleted). */
  read(key: string): Promise<Uint8Array | null> {
    return this.#inShard(key, async (shard) => {
      const directory = await this.#shardFolder(shard, 'read');
      const found = directory === null ? null : await this.#find(shard, directory, key);
      if (found === null) return null;
      const path = join(directory!, found.file);
      const handle = await openPack(path, key);
      try {
        const bytes = Buffer.alloc(found.length);
        const { bytesRead } = await handle.read(bytes, 0, found.length, found.offset);
        if (bytesRead !== found.length) throw new Error(`read ${bytesRead} of ${found.length} bytes`);
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (error) {
        throw storageUnavailable(`get("${key}") from a pack`, path, error);
      } finally {
        await handle.close();
      }
    });
  }

  /** The packed object's size, or null. */
  size(key: string): Promise<number | null> {
    return this.#inShard(key, async (shard) => {
      const directory = await this.#shardFolder(shard, 'read');
      return directory === null ? null : ((await this.#find(shard, directory, key))?.length ?? null);
    });
  }

  /** Marks the packed object deleted (nothing when no pack holds it). */
  delete(key: string): Promise<void> {
    return this.#inShard(key, async (shard) => {
      const directory = await this.#shardFolder(shard, 'read');
      if (directory === null || (await this.#find(shard, directory, key)) === null) return;
      const markers = markersFolder(shard, directory);
      const marker = join(markers, deletionMarkerName(key));
      try {
        await mkdir(markers, { mode: folderMode }).catch((error: unknown) => {
          if (errorCode(error) !== 'EEXIST') throw error;
        });
        if (!(await lstat(markers)).isDirectory()) throw symbolicLinkRefused(key, markers);
        await (await open(marker, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, fileMode)).close();
        await syncDirectory(markers);
        await syncDirectory(directory);
      } catch (error) {
        if (isCairnError(error)) throw error;
        throw storageUnavailable(`delete("${key}"): marking it deleted`, marker, error);
      }
    });
  }

  /** The packed keys in range, sorted as a listing orders them. */
  async keysInRange(range: KeyRange): Promise<string[]> {
    if (!ObjectPacks.mayHold(range.prefix)) return [];
    const folder = await this.#packsFolder('read');
    if (folder === null) return [];
    const keys: string[] = [];
    for (const name of (await readdirOrEmpty(folder, 'listing packs')).filter((entry) => /^[0-9a-f]{2}$/.test(entry))) {
      await this.#inShardNamed(name, async (shard) => {
        const directory = await this.#shardFolder(shard, 'read');
        if (directory === null) return;
        // Every record read now is checked as it is read; those read before, unchecked, after.
        const deleted = await this.#refresh(shard, directory, () => true);
        await this.#verifyShard(shard, directory);
        // A key's marker name is a hash: computed only in a shard that has markers at all.
        for (const key of shard.objects.keys()) if (inRange(key, range) && (deleted.size === 0 || !deleted.has(deletionMarkerName(key)))) keys.push(key);
      });
    }
    return keys.sort(compareStorageKeys);
  }

  // The object as the packs hold it now: other writers' new records read first (the key's own
  // checked as they are read, with no read of their own).
  async #find(shard: Shard, directory: string, key: string): Promise<PackedObject | null> {
    const deleted = await this.#refresh(shard, directory, (read) => read === key);
    return deleted.size > 0 && deleted.has(deletionMarkerName(key)) ? null : this.#holding(shard, directory, key);
  }

  // A record of `key` whose body holds, hashing those not checked yet (the last read first);
  // those that do not hold are forgotten. Null when none holds.
  async #holding(shard: Shard, directory: string, key: string): Promise<PackedObject | null> {
    for (let record = shard.objects.get(key); record !== undefined; record = shard.objects.get(key)) {
      if (record.verified) return record;
      const path = join(directory, record.file);
      const handle = await openPack(path, key);
      try {
        const body = Buffer.alloc(record.length);
        const { bytesRead } = await handle.read(body, 0, record.length, record.offset);
        checkRecord(shard, key, record, body.subarray(0, bytesRead));
      } catch (error) {
        throw storageUnavailable(`reading "${key}" from a pack`, path, error);
      } finally {
        await handle.close();
      }
    }
    return null;
  }

  // Hashes every record of the shard not checked yet, each pack file read once (a listing).
  async #verifyShard(shard: Shard, directory: string): Promise<void> {
    const files = new Map<string, Buffer>();
    for (const [key, last] of shard.objects) {
      for (let record: PackedObject | undefined = last; record !== undefined; record = record.earlier) {
        if (record.verified) continue;
        let bytes = files.get(record.file);
        if (bytes === undefined) files.set(record.file, (bytes = await readPack(join(directory, record.file), record.file)));
        checkRecord(shard, key, record, bytes.subarray(record.offset, record.offset + record.length));
      }
    }
  }

  /**
   * Reads what other writers appended to the shard since the last look, checking the records of
   * the keys `check` names as they are read; returns its deletion markers.
   */
  async #refresh(shard: Shard, directory: string, check: (key: string) => boolean): Promise<Set<string>> {
    const names = await readdirOrEmpty(directory, 'listing a pack shard');
    for (const name of names) {
      if (!name.endsWith('.pack') || name === shard.own?.name) continue;
      const from = shard.read.get(name) ?? 0;
      if (from === Number.POSITIVE_INFINITY) continue;
      const path = join(directory, name);
      // A pack nothing was appended to since the last look (most of them, at most looks) is only
      // looked at, not opened.
      const found = await lstat(path).catch((error: unknown) => {
        throw storageUnavailable('reading a pack', path, error);
      });
      if (found.isSymbolicLink()) throw symbolicLinkRefused(name, path);
      if (found.size <= from) continue;
      const handle = await openPack(path, name);
      try {
        const { size } = await handle.stat();
        const bytes = Buffer.alloc(size - from);
        const { bytesRead } = await handle.read(bytes, 0, bytes.length, from);
        shard.read.set(name, indexRecords(shard, name, bytes.subarray(0, bytesRead), from, check));
      } catch (error) {
        throw storageUnavailable('reading a pack', path, error);
      } finally {
        await handle.close();
      }
    }
    if (!names.includes(deletedFolder)) return new Set();
    const markers = markersFolder(shard, directory);
    // A link there is refused, as anywhere under the root: its target's names would read as markers.
    const found = await lstat(markers).catch((error: unknown) => {
      throw storageUnavailable('looking at deletion markers', markers, error);
    });
    if (!found.isDirectory()) throw symbolicLinkRefused(`${packsFolder}/${shard.name}/${deletedFolder}`, markers);
    return new Set(await readdirOrEmpty(markers, 'listing deletion markers'));
  }

  /**
   * Makes this instance's pack file in a shard, kept open: an open per append cost more than the
   * append (about 15 µs against 5). Made off the main thread: creating a file is the kernel
   * allocating an inode (about 1 ms on ext4 after deletions), and a server's first run makes one in
   * each of the 256 shards.
   */
  async #openOwnPack(directory: string, key: string): Promise<NonNullable<Shard['own']>> {
    const name = `${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}.pack`;
    const path = join(directory, name);
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND | constants.O_NOFOLLOW;
    const descriptor = await openDescriptor(path, flags, fileMode).catch((error: unknown) => {
      throw storageUnavailable(`put("${key}"): making a pack`, path, error);
    });
    this.#descriptors.add(descriptor);
    return { name, descriptor, size: 0 };
  }

  #append(shard: Shard, own: NonNullable<Shard['own']>, directory: string, key: string, { bytes: record, bodyOffset, bodyLength }: PackRecord): void {
    let written = 0;
    try {
      // A short write (the disk filling up) is followed by one for the rest, which then fails with
      // the system's own error (ENOSPC), so that a full disk is told as one.
      while (written < record.length) written += writeSync(own.descriptor, record, written);
    } catch (error) {
      // Part of the record in the file: this instance goes on in a new file, so that part stays
      // the file's last bytes, which readers know is no object. Nothing written (a full disk
      // refusing the first byte): the file goes on as it was, rather than a new one per retry.
      if (written > 0) {
        this.#descriptors.delete(own.descriptor);
        closeSync(own.descriptor);
        shard.own = undefined;
      }
      throw storageUnavailable(`put("${key}"): appending to a pack`, join(directory, own.name), error);
    }
    // This instance's own bytes: the caller's, named by their key.
    const packed: PackedObject = { file: own.name, offset: own.size + bodyOffset, length: bodyLength, verified: true };
    addRecord(shard, key, packed);
    own.size += record.length;
  }

  #inShard<T>(key: string, work: (shard: Shard) => Promise<T>): Promise<T> {
    return this.#inShardNamed(digestNamedByKey(key)!.slice('sha256:'.length, 'sha256:'.length + 2), work);
  }

  // Runs `work` after this instance's earlier work on the shard.
  #inShardNamed<T>(name: string, work: (shard: Shard) => Promise<T>): Promise<T> {
    let shard = this.#shards.get(name);
    if (shard === undefined) {
      shard = { name, read: new Map(), objects: new Map(), own: undefined, queue: Promise.resolve(), made: false };
      this.#shards.set(name, shard);
    }
    const current = shard;
    const result = current.queue.then(() => work(current));
    current.queue = result.catch(() => undefined);
    return result;
  }

  async #packsFolder(intent: 'read' | 'write'): Promise<string | null> {
    this.#found ??= (await this.#folder(intent)) ?? undefined;
    return this.#found ?? null;
  }

  /** The shard's folder: made for a write; null for a read when it (or the packs folder) does not exist. */
  async #shardFolder(shard: Shard, intent: 'read' | 'write'): Promise<string | null> {
    const folder = await this.#packsFolder(intent);
    if (folder === null) return null;
    const directory = join(folder, shard.name);
    if (shard.made) return directory;
    if (intent === 'write') {
      // Not flushed: a packed object is promised nothing against a machine crash (ADR 0024), nor is its folder.
      try {
        await mkdir(directory, { mode: folderMode });
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw storageUnavailable('creating a pack folder', directory, error);
      }
    }
    const found = await lstat(directory).catch((error: unknown) => {
      if (errorCode(error) === 'ENOENT') return null;
      throw storageUnavailable('looking at a pack folder', directory, error);
    });
    if (found === null) return null;
    if (!found.isDirectory()) throw symbolicLinkRefused(`${packsFolder}/${shard.name}`, directory);
    shard.made = true;
    return directory;
  }
}

/** open(2) on node's thread pool, answering the bare descriptor that `writeSync` appends through. */
const openDescriptor = promisify(openCallback);

/** Closes the pack files an instance had open once it is collected. */
const openPacks = new FinalizationRegistry<Set<number>>((descriptors) => {
  for (const descriptor of descriptors) closeSync(descriptor);
});

/**
 * Indexes the whole records of `bytes` (read from `file` at `from`) by their headers; those of the
 * keys `check` names are checked now, the others when their object is first used (`#holding`).
 * Returns how far the file is read: to the first record not yet whole, or for good (infinity) at
 * bytes that are no record, which a writer never appends after.
 */
function indexRecords(shard: Shard, file: string, bytes: Buffer, from: number, check: (key: string) => boolean): number {
  let at = 0;
  while (bytes.length - at >= headerBytes) {
    const keyLength = bytes.readUInt16BE(at + 4);
    const bodyLength = bytes.readUInt32BE(at + 6);
    if (bytes.readUInt32BE(at) !== recordMagic || keyLength === 0 || bodyLength > packedObjectMaxBytes) return Number.POSITIVE_INFINITY;
    const end = at + headerBytes + keyLength + bodyLength;
    if (end > bytes.length) break;
    const key = bytes.toString('utf8', at + headerBytes, at + headerBytes + keyLength);
    if (digestNamedByKey(key) !== undefined) {
      const record: PackedObject = { file, offset: from + at + headerBytes + keyLength, length: bodyLength, verified: false };
      addRecord(shard, key, record);
      if (check(key)) checkRecord(shard, key, record, bytes.subarray(at + headerBytes + keyLength, end));
    }
    at = end;
  }
  return from + at;
}

function addRecord(shard: Shard, key: string, record: PackedObject): void {
  const earlier = shard.objects.get(key);
  if (earlier !== undefined) record.earlier = earlier;
  shard.objects.set(key, record);
}

/** Whether an unchecked record's body (as read) holds: then it is marked checked, else forgotten. */
function checkRecord(shard: Shard, key: string, record: PackedObject, body: Uint8Array): void {
  if (body.length === record.length && sha256Digest(body) === digestNamedByKey(key)) {
    record.verified = true;
    return;
  }
  const last = shard.objects.get(key);
  if (last === record) {
    if (record.earlier === undefined) shard.objects.delete(key);
    else shard.objects.set(key, record.earlier);
    return;
  }
  for (let later = last; later !== undefined; later = later.earlier) {
    if (later.earlier === record) later.earlier = record.earlier;
  }
}

async function readPack(path: string, what: string): Promise<Buffer> {
  const handle = await openPack(path, what);
  try {
    return await handle.readFile();
  } catch (error) {
    throw storageUnavailable('reading a pack', path, error);
  } finally {
    await handle.close();
  }
}

/** The folder of a shard's deletion markers, made by its first deletion. */
const deletedFolder = 'deleted';

function markersFolder(shard: Shard, directory: string): string {
  return (shard.markers ??= join(directory, deletedFolder));
}

/** The deletion marker of a packed key: named by the key's hash (a key holds "/", a file name cannot). */
function deletionMarkerName(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

async function openPack(path: string, what: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (errorCode(error) === 'ELOOP') throw symbolicLinkRefused(what, path);
    throw storageUnavailable('opening a pack', path, error);
  }
}

async function readdirOrEmpty(directory: string, what: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw storageUnavailable(what, directory, error);
  }
}

/** Whether the shard has a folder of deletion markers; a link in its place is refused, never followed. */
function markersFolderExists(path: string, key: string): boolean {
  let found;
  try {
    found = lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    throw storageUnavailable(`put("${key}"): looking for deletion markers`, path, error);
  }
  if (found !== undefined && !found.isDirectory()) throw symbolicLinkRefused(key, path);
  return found !== undefined;
}

function exists(path: string, key: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch (error) {
    throw storageUnavailable(`put("${key}"): looking for its deletion marker`, path, error);
  }
}
