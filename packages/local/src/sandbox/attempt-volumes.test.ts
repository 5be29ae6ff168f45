// What an attempt's workspace image costs the disk under it before the item writes anything: what
// mkfs wrote, which an attempt hands back when it ends. On a full disk that is room that appears
// from nowhere — 2.1 MiB per attempt with mkfs's defaults, enough for results and the engine's
// commits to go through and hide that the disk is full. Real mkfs, a real loop mount (needs root).
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { AttemptVolumes } from './attempt-volumes.ts';

test('a 4 GiB workspace image takes under 128 KiB of the disk under it until the item writes', { timeout: 30_000 }, async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-attempt-volumes-'));
  const folders = { directory, workspace: join(directory, 'workspace') };
  mkdirSync(folders.workspace);
  const volumes = new AttemptVolumes({ workspaceBytes: 4 * 1024 ** 3, tmpBytes: 16 * 1024 ** 2 });
  try {
    await volumes.mount(folders);
    const image = statSync(join(directory, 'workspace.img'));
    expect(image.size).toBe(4 * 1024 ** 3);
    expect(image.blocks * 512).toBeLessThan(128 * 1024);
    expect(await volumes.limitReached(folders)).toBeUndefined();
  } finally {
    await volumes.unmount(folders);
    rmSync(directory, { recursive: true, force: true });
  }
});
