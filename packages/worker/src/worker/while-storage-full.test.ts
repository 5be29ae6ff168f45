// Which failures whileStorageFull waits out (a full disk, said however it is said) and which it
// throws at once (the task's own problems, an item over its own disk limit).
import { CairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { whileStorageFull } from './while-storage-full.ts';

/** A write that fails with `error` the first time, then succeeds; how many times it was tried. */
function failingOnce(error: unknown) {
  let tries = 0;
  return {
    write: async () => {
      if (tries++ === 0) throw error;
      return 'written';
    },
    tries: () => tries,
  };
}

test.each([
  ['ENOSPC', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })],
  ['git out of disk space', new Error("git commit failed (exit 128): fatal: sha1 file '/x/git/index.lock' write error. Out of diskspace")],
  ['a full disk under the attempt’s mounts', new CairnError('CAIRN_ATTEMPT_HOST_DISK_FULL', 'The disk holding the attempt is full.')],
])('%s is waited out', async (_name, error) => {
  const write = failingOnce(error);
  const waits: unknown[] = [];
  await expect(whileStorageFull(write.write, { onWait: (waited) => waits.push(waited) })).resolves.toBe('written');
  expect(write.tries()).toBe(2);
  expect(waits).toEqual([error]);
});

test('an item over its own disk limit is thrown at once, never waited out', async () => {
  const error = new CairnError('CAIRN_ATTEMPT_DISK_EXCEEDED', 'The workspace is full: it reached its disk limit.');
  const write = failingOnce(error);
  await expect(whileStorageFull(write.write, { directory: '/' })).rejects.toBe(error);
  expect(write.tries()).toBe(1);
});
