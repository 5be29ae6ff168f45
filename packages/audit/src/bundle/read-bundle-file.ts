import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import type { JsonValue } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { resolveBundleLimits, type BundleLimits } from './bundle-limits.ts';
import { BundleStructureScanner } from './bundle-structure-scanner.ts';

// Read and scanned a piece at a time: a file over a limit is refused after the piece that shows it.
const pieceBytes = 4 * 1024 * 1024;

export interface ReadBundleFileOptions {
  /** The limits to read within (`bundleLimits` for any left out): pass `verifyBundle` the same. */
  readonly limits?: Partial<BundleLimits>;
  /** What the file is, for messages (`the evidence bundle`). */
  readonly what?: string;
  /** How the person running it raises `maxBundleBytes`, for messages (`--max-bundle-bytes`). */
  readonly limitOption?: string;
  /** The command that writes such a file, for messages (`cairn audit bundle`). */
  readonly writtenBy?: string;
}

/**
 * Reads a bundle file for `verifyBundle`, refusing before reading anything a file that is not a
 * regular file (a FIFO, a device such as /dev/zero, a directory, a socket) or is larger than
 * `maxBundleBytes`. It is opened non-blocking, so that a FIFO with no writer is refused rather
 * than waited on, and read to the size it had when opened: a file that grows meanwhile is
 * refused too. The other limits are checked as the file is read, so one over them (ten million
 * keys in one object) is refused after its first few kilobytes, not once it is all in memory.
 * Throws CAIRN_PAYLOAD_INVALID (bad input) naming the path, what it is or the limit it exceeds.
 */
export function readBundleFile(path: string, options: ReadBundleFileOptions = {}): Uint8Array {
  const limits: BundleLimits = resolveBundleLimits(options.limits);
  const what = options.what ?? 'the evidence bundle';
  const refuse = (reason: string, action: string, details: Record<string, JsonValue> = {}) =>
    new CairnError('CAIRN_PAYLOAD_INVALID', `Cannot read ${what} ${path}: ${reason}. ${action}`, { path, action, details });
  let descriptor: number;
  try {
    descriptor = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw refuse(code === 'ENOENT' ? 'there is no such file' : (error as Error).message, 'Check the path.');
  }
  try {
    const stats = fstatSync(descriptor);
    if (!stats.isFile())
      throw refuse(
        `it is ${kindOf(stats)}, not a regular file`,
        `Pass a bundle file (\`${options.writtenBy ?? 'cairn audit bundle'}\` writes one); save a bundle that comes through a pipe to a file first.`,
      );
    const limitName = options.limitOption ?? 'maxBundleBytes';
    if (stats.size > limits.maxBundleBytes)
      throw refuse(
        `it is ${stats.size} bytes, more than ${limits.maxBundleBytes}, the most a verifier reads (${limitName})`,
        `A bundle Cairn writes is smaller; if you expect this one to be this large, raise ${limitName}.`,
        { limit: 'maxBundleBytes', bytes: stats.size, maxBundleBytes: limits.maxBundleBytes },
      );
    // One byte more than the size it has: a file still being written is not the bundle yet. The
    // pages of the buffer cost memory only once read into.
    const bytes = Buffer.allocUnsafe(stats.size + 1);
    const scanner = new BundleStructureScanner(bytes, limits, stats.size);
    let read = 0;
    for (;;) {
      const count = readSync(descriptor, bytes, read, Math.min(pieceBytes, bytes.length - read), null);
      if (count === 0) break;
      read += count;
      if (read > stats.size) throw refuse(`it grew past the ${stats.size} bytes it had when opened`, 'Verify a bundle once it is written.');
      const exceeded = scanner.scan(read);
      if (exceeded !== undefined)
        throw refuse(
          exceeded.detail,
          'A bundle Cairn writes stays within this limit: this one was not written by Cairn, or was edited since; do not rely on it.',
          {
            limit: exceeded.limit,
            jsonPath: exceeded.jsonPath,
          },
        );
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, read);
  } finally {
    closeSync(descriptor);
  }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a file';
}
