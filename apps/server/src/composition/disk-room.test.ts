// DiskRoom on a real tmpfs filled to its last byte: full while it has less than 1 MiB free (since
// the first look that saw it so), not full again once there is room; a folder not made yet is
// looked at through the nearest one that exists.
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { DiskRoom } from './disk-room.ts';

const disk = useSmallFileSystem(4);

test('a disk with less than 1 MiB free is full, says which folder and since when, and is not once there is room', () => {
  const room = new DiskRoom([join(disk.path, 'not-made-yet', 'work')]);
  expect(room.status()).toEqual({ full: false });
  const filler = join(disk.path, 'filler');
  disk.fill(filler);
  try {
    const full = room.status();
    expect(full).toMatchObject({ full: true, reason: expect.stringMatching(/^storage full: the disk under .*not-made-yet\/work has \d+ bytes free/) });
    expect(Date.parse((full as { since: string }).since)).not.toBeNaN();
    // The same outage: the same since.
    expect(room.status()).toEqual(full);
  } finally {
    unlinkSync(filler);
  }
  expect(room.status()).toEqual({ full: false });
});
