// Workspace images written from a template instead of made by mkfs each time: real mkfs, real
// e2fsck and dumpe2fs on what was written, a real tmpfs filled up (root only).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { VolumeTemplates } from './volume-templates.ts';

const sizeBytes = 64 * 1024 * 1024;
const mkfs = ['-q', '-F', '-O', '^has_journal,^resize_inode,sparse_super2', '-E', 'num_backup_sb=0', '-m', '0'];
const environment = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const folders: string[] = [];
const mounted: string[] = [];

afterEach(() => {
  for (const path of mounted.splice(0)) spawnSync('umount', [path]);
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function scratch(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-volume-templates-'));
  folders.push(folder);
  return folder;
}

/** Templates in `folder` whose `make` runs mkfs and counts its runs. */
function templatesIn(folder: string, maxAgeMs?: number): { templates: VolumeTemplates; made: () => number } {
  let runs = 0;
  const templates = new VolumeTemplates({
    folder,
    make: async (image) => {
      runs++;
      execFileSync('mkfs.ext4', [...mkfs, image], { env: environment });
    },
    makeKey: mkfs.join(' '),
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
  });
  return { templates, made: () => runs };
}

/** dumpe2fs's header fields of `image`, by name. */
function superblock(image: string): Map<string, string> {
  const text = execFileSync('dumpe2fs', ['-h', image], { env: environment, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  return new Map(
    text
      .split('\n')
      .map((line) => /^([^:]+):\s+(.*)$/.exec(line))
      .filter((match) => match !== null)
      .map((match) => [match[1]!, match[2]!.trim()]),
  );
}

/** e2fsck's forced, read-only check: 0 when the file system is sound. */
function checkStatus(image: string): number | null {
  return spawnSync('e2fsck', ['-fn', image], { env: environment, stdio: 'ignore' }).status;
}

test('images of one size run mkfs once, are sound file systems as mkfs makes them, and take what mkfs wrote', { timeout: 60_000 }, async () => {
  const folder = scratch();
  const { templates, made } = templatesIn(join(folder, 'templates'));
  const images = [1, 2, 3].map((index) => join(folder, `workspace-${index}.img`));
  for (const image of images) await templates.write(image, sizeBytes);
  expect(made()).toBe(1);
  const reference = join(folder, 'mkfs.img');
  writeFileSync(reference, '');
  truncateSync(reference, sizeBytes);
  execFileSync('mkfs.ext4', [...mkfs, reference], { env: environment });
  const expected = superblock(reference);
  for (const image of images) {
    expect(statSync(image).size).toBe(sizeBytes);
    expect(statSync(image).blocks * 512).toBeLessThanOrEqual(statSync(reference).blocks * 512);
    expect(checkStatus(image)).toBe(0);
    const written = superblock(image);
    for (const field of ['Block count', 'Inode count', 'Inode size', 'Block size', 'Filesystem features', 'Reserved block count', 'Inodes per group'])
      expect(written.get(field), field).toBe(expected.get(field));
  }
  // The same bytes in each (one template); a file system that mounts and takes writes.
  expect(readFileSync(images[0]!).equals(readFileSync(images[1]!))).toBe(true);
  const mountPoint = join(folder, 'mounted');
  mkdirSync(mountPoint);
  execFileSync('mount', ['-t', 'ext4', '-o', 'loop,nodev,nosuid', images[2]!, mountPoint], { env: environment });
  mounted.push(mountPoint);
  writeFileSync(join(mountPoint, 'file'), 'written');
  expect(readdirSync(mountPoint).sort()).toEqual(['file', 'lost+found']);
});

test('another process reads the template from the folder; a torn one is made again, not used', { timeout: 60_000 }, async () => {
  const folder = scratch();
  const templatesFolder = join(folder, 'templates');
  await templatesIn(templatesFolder).templates.write(join(folder, 'first.img'), sizeBytes);
  const [file] = readdirSync(templatesFolder).filter((name) => name.endsWith('.template'));
  expect(statSync(templatesFolder).mode & 0o777).toBe(0o700);

  const second = templatesIn(templatesFolder);
  await second.templates.write(join(folder, 'second.img'), sizeBytes);
  expect(second.made()).toBe(0);
  expect(readFileSync(join(folder, 'second.img')).equals(readFileSync(join(folder, 'first.img')))).toBe(true);

  // Torn as a power cut would leave it: its digest no longer matches.
  truncateSync(join(templatesFolder, file!), statSync(join(templatesFolder, file!)).size - 100);
  const third = templatesIn(templatesFolder);
  await third.templates.write(join(folder, 'third.img'), sizeBytes);
  expect(third.made()).toBe(1);
  expect(checkStatus(join(folder, 'third.img'))).toBe(0);
  expect(superblock(join(folder, 'third.img')).get('Filesystem UUID')).not.toBe(superblock(join(folder, 'first.img')).get('Filesystem UUID'));
});

test('a template past its age is made again: a new file system UUID', { timeout: 60_000 }, async () => {
  const folder = scratch();
  const { templates, made } = templatesIn(join(folder, 'templates'), 1);
  await templates.write(join(folder, 'first.img'), sizeBytes);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await templates.write(join(folder, 'second.img'), sizeBytes);
  expect(made()).toBe(2);
  expect(superblock(join(folder, 'second.img')).get('Filesystem UUID')).not.toBe(superblock(join(folder, 'first.img')).get('Filesystem UUID'));
  // The first template's file was replaced, not kept beside the second.
  expect(readdirSync(join(folder, 'templates')).filter((name) => name.endsWith('.template'))).toHaveLength(1);
});

test('a folder others may write in is never used: each image is made by mkfs', { timeout: 60_000 }, async () => {
  const folder = scratch();
  const templatesFolder = join(folder, 'templates');
  mkdirSync(templatesFolder, { mode: 0o777 });
  chmodSync(templatesFolder, 0o777);
  const { templates, made } = templatesIn(templatesFolder);
  await templates.write(join(folder, 'first.img'), sizeBytes);
  await templates.write(join(folder, 'second.img'), sizeBytes);
  expect(made()).toBe(2);
  expect(readdirSync(templatesFolder)).toEqual([]);
  expect(checkStatus(join(folder, 'second.img'))).toBe(0);
});

test('on a full disk the image is refused with ENOSPC', { timeout: 60_000 }, async () => {
  const folder = scratch();
  const { templates } = templatesIn(join(folder, 'templates'));
  await templates.write(join(folder, 'made.img'), sizeBytes);
  const full = join(folder, 'full');
  mkdirSync(full);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'cairn-test-full', full], { env: environment });
  mounted.push(full);
  // Fills it (dd ends with ENOSPC, its exit status 1): what is left cannot hold the template's ranges.
  spawnSync('dd', ['if=/dev/zero', `of=${join(full, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
  await expect(templates.write(join(full, 'workspace.img'), sizeBytes)).rejects.toMatchObject({ code: 'ENOSPC' });
});
