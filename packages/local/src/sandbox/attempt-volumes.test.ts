// What an attempt's workspace image costs the disk under it before the item writes anything: what
// mkfs wrote, which an attempt hands back when it ends. On a full disk that is room that appears
// from nowhere — 2.1 MiB per attempt with mkfs's defaults, enough for results and the engine's
// commits to go through and hide that the disk is full. Real mkfs, a real loop mount (needs root).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { AttemptVolumes } from './attempt-volumes.ts';

// Made by mkfs, and written from a template mkfs made (VolumeTemplates): the same either way.
test.each([
  ['made by mkfs', false],
  ['written from a template', true],
])('a 4 GiB workspace image %s takes under 128 KiB of the disk under it until the item writes', { timeout: 30_000 }, async (_, templated) => {
  const root = mkdtempSync(join(tmpdir(), 'cairn-attempt-volumes-'));
  const volumes = new AttemptVolumes({ workspaceBytes: 4 * 1024 ** 3, tmpBytes: 16 * 1024 ** 2 }, templated ? join(root, 'templates') : undefined);
  try {
    // Two attempts: with a template, the second is the first written from one already made.
    for (const name of ['first', 'second']) {
      const directory = join(root, name);
      const folders = { directory, workspace: join(directory, 'workspace') };
      mkdirSync(folders.workspace, { recursive: true });
      try {
        await volumes.mount(folders);
        const image = statSync(join(directory, 'workspace.img'));
        expect(image.size).toBe(4 * 1024 ** 3);
        expect(image.blocks * 512).toBeLessThan(128 * 1024);
        expect(readdirSync(folders.workspace)).toEqual([]);
        expect(statfsSync(folders.workspace).blocks * statfsSync(folders.workspace).bsize).toBeGreaterThan(3.9 * 1024 ** 3);
        expect(await volumes.limitReached(folders)).toBeUndefined();
      } finally {
        await volumes.unmount(folders);
      }
    }
    expect(existsSync(join(root, 'templates')) && readdirSync(join(root, 'templates')).filter((name) => name.endsWith('.template'))).toEqual(
      templated ? [expect.stringMatching(/^ext4-4294967296-[0-9a-f]{16}\.template$/)] : false,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
