import { randomBytes } from 'node:crypto';
import { close, constants, open as openDescriptor, write } from 'node:fs';
import { type FileHandle, link, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode } from './error-code.ts';

/**
 * Names of files that are not (yet) objects. A backslash can never appear in a storage key, so
 * no key maps onto one of these names and a listing can tell them apart by the name alone.
 */
export const temporaryPrefix = '.cairn\\tmp-';

/**
 * Writes `bytes` to a new temporary file in `directory` (created exclusively with `mode`, which
 * the process umask may narrow but nothing widens) and flushes it to disk, unless `flush` is
 * false (a put with `deferFlush`: the bytes are in the kernel's page cache, which outlives the
 * process but not the machine). The caller publishes it with `rename` or `link` in the same
 * directory, which is atomic: a reader sees the whole file or nothing, never a torn one.
 */
export async function writeTemporaryFile(directory: string, bytes: Uint8Array, mode: number, flush = true): Promise<string> {
  for (let attempt = 1; ; attempt += 1) {
    const path = join(directory, temporaryName());
    try {
      await (flush ? writeAndFlush(path, bytes, mode) : writeUnflushed(path, bytes, mode));
      return path;
    } catch (error) {
      // Another process's name (its tag drawn the same): another name, never its file.
      if (errorCode(error) !== 'EEXIST' || attempt === 3) throw error;
    }
  }
}

/**
 * Creates a new, empty temporary file in `directory` (exclusively, with `mode`) for a caller that
 * writes it piece by piece, flushes and publishes it as `writeTemporaryFile`'s caller does.
 */
export async function createTemporaryFile(directory: string, mode: number): Promise<{ path: string; handle: FileHandle }> {
  for (let attempt = 1; ; attempt += 1) {
    const path = join(directory, temporaryName());
    try {
      return { path, handle: await open(path, 'wx', mode) };
    } catch (error) {
      if (errorCode(error) !== 'EEXIST' || attempt === 3) throw error;
    }
  }
}

/**
 * This process's tag in temporary names, and its count: unique names without drawing random
 * bytes for each (ten thousand manifests a run each drew twelve). Another process (or worker)
 * has a tag of its own; the file is created exclusively, so even a tag drawn twice only costs a
 * retry under another name.
 */
const processTag = randomBytes(8).toString('hex');
let temporaryCount = 0;

function temporaryName(): string {
  temporaryCount += 1;
  return `${temporaryPrefix}${processTag}-${temporaryCount.toString(36)}`;
}

async function writeAndFlush(path: string, bytes: Uint8Array, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await removeFile(path);
    throw error;
  }
  await handle.close();
}

/**
 * The deferred put's write, through a plain descriptor: the engine makes one for each task's
 * manifest, and a FileHandle (an object the collector tracks to close it, a promise per step)
 * cost more of the event loop than the write itself.
 */
async function writeUnflushed(path: string, bytes: Uint8Array, mode: number): Promise<void> {
  const descriptor = await new Promise<number>((resolve, reject) =>
    openDescriptor(path, 'wx', mode, (error, opened) => (error ? reject(error) : resolve(opened))),
  );
  try {
    // A write may take fewer bytes than given (a full disk, a signal): the rest is written after.
    for (let offset = 0; offset < bytes.length;) {
      const written = await new Promise<number>((resolve, reject) =>
        write(descriptor, bytes, offset, bytes.length - offset, null, (error, count) => (error ? reject(error) : resolve(count))),
      );
      if (written === 0) throw Object.assign(new Error(`writing ${path} made no progress`), { code: 'EIO' });
      offset += written;
    }
  } catch (error) {
    await closeDescriptor(descriptor).catch(() => undefined);
    await removeFile(path);
    throw error;
  }
  await closeDescriptor(descriptor);
}

function closeDescriptor(descriptor: number): Promise<void> {
  return new Promise((resolve, reject) => close(descriptor, (error) => (error ? reject(error) : resolve())));
}

/**
 * Publishes a temporary file under `target` only when nothing is there: `link` fails with EEXIST
 * instead of replacing, so of any number of concurrent writers exactly one succeeds. Resolves
 * `true` when this one did. The temporary name is removed either way.
 */
export async function linkIfAbsent(temporary: string, target: string): Promise<boolean> {
  try {
    await link(temporary, target);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await removeFile(temporary);
  }
}

/** The directory flush under way in each directory, and the one queued behind it. */
const directorySyncs = new Map<string, { readonly running: Promise<void>; queued?: Promise<void> }>();

/**
 * Flushes a directory's entries (a rename, link or new file in it) to disk. Concurrent callers
 * share flushes: one fsync covers every change made before it starts, so a caller that finds one
 * under way (which may have started before its change) waits for the next, and everyone arriving
 * meanwhile shares that one. A thousand objects written together into one folder cost two
 * directory fsyncs, not a thousand — each fsync is milliseconds on a real disk.
 */
export function syncDirectory(directory: string): Promise<void> {
  const state = directorySyncs.get(directory);
  if (state === undefined) return startDirectorySync(directory);
  state.queued ??= state.running.catch(() => undefined).then(() => startDirectorySync(directory));
  return state.queued;
}

function startDirectorySync(directory: string): Promise<void> {
  const running = fsyncDirectory(directory).finally(() => {
    const state = directorySyncs.get(directory);
    if (state?.running === running && state.queued === undefined) directorySyncs.delete(directory);
  });
  directorySyncs.set(directory, { running });
  return running;
}

async function fsyncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes a file's bytes to disk (opened read-only: flushing needs no write access); never follows a link. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Removes a file; one that is already gone is fine. */
export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
}
