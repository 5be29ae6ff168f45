import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** A file system small enough to fill in a test. */
export interface SmallFileSystem {
  /** Where it is mounted (known at once; mounted before the file's tests run). */
  readonly path: string;
  /** Writes zeros into `file` (on this file system) until it answers ENOSPC; returns the bytes written. */
  fill(file: string): number;
}

/**
 * A real tmpfs of `megabytes` for the tests of the calling file: mounted before them, unmounted
 * after. A full disk then answers as it does in production, with ENOSPC from write(2) (SQLite's
 * SQLITE_FULL on top of it), which no mock reproduces faithfully. With `inodes`, it holds at most
 * that many files and folders (itself included): one more is ENOSPC from open(2) or mkdir(2), as a
 * disk out of inodes answers. Mounting needs root.
 */
export function useSmallFileSystem(megabytes: number, options: { readonly inodes?: number } = {}): SmallFileSystem {
  const path = mkdtempSync(join(tmpdir(), 'cairn-small-fs-'));
  beforeAll(() => {
    try {
      const inodes = options.inodes === undefined ? '' : `,nr_inodes=${options.inodes}`;
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m${inodes}`, 'tmpfs', path], { stdio: 'pipe' });
    } catch (error) {
      throw new Error(`This test mounts a ${megabytes} MB tmpfs at ${path} to fill it, and needs root for that: ${String(error)}`);
    }
  });
  afterAll(() => {
    execFileSync('umount', ['-l', path], { stdio: 'pipe' });
    rmSync(path, { recursive: true, force: true });
  });
  return { path, fill: fillFileSystem };
}

function fillFileSystem(file: string): number {
  let written = 0;
  // Big writes first, then smaller ones: what is left of the last blocks takes small writes.
  for (const size of [64 * 1024, 512, 1]) {
    const chunk = Buffer.alloc(size);
    const descriptor = openSync(file, 'a');
    try {
      for (;;) written += writeSync(descriptor, chunk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    } finally {
      closeSync(descriptor);
    }
  }
  return written;
}
