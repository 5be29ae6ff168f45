// The racy-clean rule as a table: equal metadata is trusted only for a member last changed (or
// whose inode last changed) before the index's start, less the window.
import type { Stats } from 'node:fs';
import { expect, test } from 'vitest';
import { isIndexedClean, racyWindowMs } from './indexed-content.ts';
import type { WorkspaceIndex } from './workspace-index.ts';

const startedAtMs = 1_000_000;
const indexed = { size: 4, mtimeMs: startedAtMs - racyWindowMs - 1, ctimeMs: startedAtMs - racyWindowMs - 1, ino: 7, mode: 0o100644 };

function indexOf(entry: typeof indexed): WorkspaceIndex {
  return {
    directory: '/w',
    startedAtMs,
    membersKey: '',
    snapshots: [],
    paths: ['a'],
    sizes: [entry.size],
    mtimesMs: [entry.mtimeMs],
    ctimesMs: [entry.ctimeMs],
    inodes: [entry.ino],
    modes: [entry.mode],
    contents: ['digest'],
  };
}

test.each([
  ['the same metadata, changed before the window', indexed, {}, true],
  ['a change of size', indexed, { size: 5 }, false],
  ['a change of mtime', indexed, { mtimeMs: indexed.mtimeMs + 1 }, false],
  ['a change of ctime (a rewrite that put the mtime back)', indexed, { ctimeMs: indexed.ctimeMs + 1 }, false],
  ['another inode (replaced by a rename)', indexed, { ino: 8 }, false],
  ['another mode (made executable)', indexed, { mode: 0o100755 }, false],
  ['the same metadata, modified within the window before the start: racily clean', { ...indexed, mtimeMs: startedAtMs - racyWindowMs }, {}, false],
  ['the same metadata, its inode changed within the window: racily clean', { ...indexed, ctimeMs: startedAtMs - 1 }, {}, false],
  ['the same metadata, changed after the start: racily clean', { ...indexed, mtimeMs: startedAtMs + 5, ctimeMs: startedAtMs + 5 }, {}, false],
] as const)('%s: trusted: %s', (_name, entry, change, trusted) => {
  const stats = { ...entry, ...change } as unknown as Stats;
  expect(isIndexedClean(indexOf(entry), 0, stats)).toBe(trusted);
});
