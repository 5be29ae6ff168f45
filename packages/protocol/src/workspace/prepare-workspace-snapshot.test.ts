// The workspace index against the real file system: an unchanged workspace is known without a
// read, a change reads only what changed, a file rewritten in the same timestamp tick as its
// indexed read is read again (and, to show the rule is what catches it, would be taken for the
// old content without it), and a damaged or foreign index is ignored. Date alone is faked where a
// test needs its files older than the racy window, so the file system's own times stay real.
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, expect, test, vi } from 'vitest';
import { prepareWorkspaceSnapshot } from './prepare-workspace-snapshot.ts';
import { useProcessLauncher } from './process-launcher.ts';
import { indexedWorkspaceLimit, readWorkspaceIndex, workspaceIndexFile, writeWorkspaceIndex } from './workspace-index.ts';
import { writeWorkspaceSnapshot } from './write-workspace-snapshot.ts';

const folders: string[] = [];
afterEach(() => {
  vi.useRealTimers();
  useProcessLauncher(undefined);
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function temporaryFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-workspace-index-'));
  folders.push(folder);
  return folder;
}

/** A plain folder (not a repository) of a few files, a larger one and a symlink; and an empty folder for its index. */
function workspace(): { directory: string; indexFolder: string } {
  const directory = join(temporaryFolder(), 'workspace');
  mkdirSync(join(directory, 'src'), { recursive: true });
  writeFileSync(join(directory, 'README.md'), '# readme\n');
  writeFileSync(join(directory, 'src', 'a.ts'), 'aaaa');
  writeFileSync(join(directory, 'src', 'b.ts'), 'export const b = 1;\n');
  writeFileSync(join(directory, 'large.bin'), Buffer.alloc(200 * 1024, 7));
  symlinkSync('src/a.ts', join(directory, 'link'));
  return { directory, indexFolder: join(temporaryFolder(), 'index') };
}

/** A stream that only hashes what it is given. */
function hashingSink(): Writable & { digest(): string } {
  const hash = createHash('sha256');
  return Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done();
      },
    }),
    { digest: () => `sha256:${hash.digest('hex')}` },
  );
}

/** The digest of the workspace's snapshot made without any index: the truth to compare with. */
async function freshDigest(directory: string): Promise<string> {
  return (await writeWorkspaceSnapshot(directory, hashingSink())).digest;
}

/** Makes every file as old as the racy window needs, by moving this process's clock (only Date) ahead. */
function ageFiles(): void {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 60_000 });
}

test('an unchanged workspace is known from its index without reading a file; the index is kept outside the workspace and the bytes are those of a snapshot without one', async () => {
  const { directory, indexFolder } = workspace();
  ageFiles();
  const first = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(first.known).toBeUndefined();
  const sink = hashingSink();
  const written = await first.write(sink);
  expect(sink.digest()).toBe(written.digest);
  expect(written.digest).toBe(await freshDigest(directory));
  expect(readdirSync(directory).sort()).toEqual(['README.md', 'large.bin', 'link', 'src']);
  expect(readdirSync(indexFolder)).toHaveLength(1);

  const again = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(again.known).toEqual(written);
  expect(again.contentReads).toBe(0);
});

test('a one-file change reads that file only, and the snapshot written then is the true one and is known next time', async () => {
  const { directory, indexFolder } = workspace();
  ageFiles();
  const before = await (await prepareWorkspaceSnapshot(directory, { indexFolder })).write(hashingSink());
  writeFileSync(join(directory, 'src', 'b.ts'), 'export const b = 2;\n');

  const changed = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(changed.contentReads).toBe(1);
  expect(changed.known).toBeUndefined();
  const after = await changed.write(hashingSink());
  expect(after.digest).not.toBe(before.digest);
  expect(after.digest).toBe(await freshDigest(directory));

  const again = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(again).toMatchObject({ known: after, contentReads: 0 });
});

test('a touched file (new times, same content) is read once, still names the snapshot, and is trusted again after', async () => {
  const { directory, indexFolder } = workspace();
  ageFiles();
  const written = await (await prepareWorkspaceSnapshot(directory, { indexFolder })).write(hashingSink());
  const later = new Date(Date.now() - 30_000);
  utimesSync(join(directory, 'README.md'), later, later);

  const touched = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(touched).toMatchObject({ known: written, contentReads: 1 });
  expect(await prepareWorkspaceSnapshot(directory, { indexFolder })).toMatchObject({ known: written, contentReads: 0 });
});

/**
 * A file rewritten, same length, in the timestamp tick of its indexed read: its size, mtime,
 * ctime, inode and mode are what the index holds, its content is not. The test rewrites it and
 * records its new times in the index (which the same tick would have left equal), so that the
 * index's metadata is exactly the file's.
 */
async function rewrittenInTheSameTick(): Promise<{ directory: string; indexFolder: string; indexFile: string; stale: string }> {
  const { directory, indexFolder } = workspace();
  const stale = (await (await prepareWorkspaceSnapshot(directory, { indexFolder })).write(hashingSink())).digest;
  const file = join(directory, 'src', 'a.ts');
  const indexed = statSync(file);
  writeFileSync(file, 'bbbb');
  const now = statSync(file);
  expect([now.size, now.ino, now.mode]).toEqual([indexed.size, indexed.ino, indexed.mode]);
  const indexFile = workspaceIndexFile(indexFolder, directory);
  const index = (await readWorkspaceIndex(indexFile, directory))!;
  const position = index.paths.indexOf('src/a.ts');
  const mtimesMs = Array.from(index.mtimesMs);
  const ctimesMs = Array.from(index.ctimesMs);
  mtimesMs[position] = now.mtimeMs;
  ctimesMs[position] = now.ctimeMs;
  await writeWorkspaceIndex(indexFile, { ...index, mtimesMs, ctimesMs });
  return { directory, indexFolder, indexFile, stale };
}

test('racy clean: a file rewritten in the same tick as its indexed read is read again, and the snapshot is the new content', async () => {
  const { directory, indexFolder, stale } = await rewrittenInTheSameTick();
  const prepared = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(prepared.contentReads).toBeGreaterThanOrEqual(1);
  expect(prepared.known).toBeUndefined();
  const written = await prepared.write(hashingSink());
  expect(written.digest).not.toBe(stale);
  expect(written.digest).toBe(await freshDigest(directory));
});

test('racy clean, the control: the same index trusted as though written long after the file changed names the stale snapshot', async () => {
  // What the rule alone prevents: with the index's start moved past the window, equal metadata is trusted.
  const { directory, indexFolder, indexFile, stale } = await rewrittenInTheSameTick();
  const index = (await readWorkspaceIndex(indexFile, directory))!;
  await writeWorkspaceIndex(indexFile, { ...index, startedAtMs: index.startedAtMs + 60_000 });
  const prepared = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(prepared.contentReads).toBe(0);
  expect(prepared.known?.digest).toBe(stale);
  expect(stale).not.toBe(await freshDigest(directory));
});

/**
 * The index file with its header changed and its checksum made to agree again: what only a
 * damaged or foreign writer could leave, caught by the reader's own checks, not by the checksum.
 */
function resealed(bytes: Buffer, change: (header: Record<string, unknown>) => Record<string, unknown>): Buffer {
  const magicLength = bytes.indexOf(0x0a) + 1;
  const bodyStart = magicLength + 32;
  const headerLength = bytes.readUInt32LE(bodyStart);
  const header = change(JSON.parse(bytes.toString('utf8', bodyStart + 4, bodyStart + 4 + headerLength)) as Record<string, unknown>);
  const columnsStart = Math.ceil((bodyStart + 4 + headerLength) / 8) * 8;
  const headerText = Buffer.from(JSON.stringify(header));
  const lengthField = Buffer.alloc(4);
  lengthField.writeUInt32LE(headerText.length);
  const padding = Buffer.alloc(Math.ceil((bodyStart + 4 + headerText.length) / 8) * 8 - (bodyStart + 4 + headerText.length));
  const body = Buffer.concat([lengthField, headerText, padding, bytes.subarray(columnsStart)]);
  return Buffer.concat([bytes.subarray(0, magicLength), createHash('sha256').update(body).digest(), body]);
}

test.each([
  ['cut short', (bytes: Buffer) => bytes.subarray(0, bytes.length - 7)],
  ['of another format', (bytes: Buffer) => Buffer.from(bytes.toString('latin1').replace('cairn.workspace-index/v2', 'cairn.workspace-index/v0'), 'latin1')],
  ['damaged in one byte (its checksum disagrees)', (bytes: Buffer) => Buffer.from(bytes.map((byte, at) => (at === bytes.length - 40 ? byte ^ 1 : byte)))],
  ['one member longer than its columns', (bytes: Buffer) => resealed(bytes, (header) => ({ ...header, count: (header['count'] as number) + 1 }))],
  ['of columns of another length', (bytes: Buffer) => resealed(bytes, (header) => ({ ...header, pathsBytes: (header['pathsBytes'] as number) - 1 }))],
  [
    'a damaged snapshot digest',
    (bytes: Buffer) =>
      resealed(bytes, (header) => ({
        ...header,
        snapshots: (header['snapshots'] as object[]).map((snapshot) => ({ ...snapshot, digest: 'sha256:not-a-digest' })),
      })),
  ],
])('an index that is %s is ignored, and replaced by the next snapshot', async (_name, damage) => {
  const { directory, indexFolder } = workspace();
  ageFiles();
  const written = await (await prepareWorkspaceSnapshot(directory, { indexFolder })).write(hashingSink());
  const indexFile = workspaceIndexFile(indexFolder, directory);
  writeFileSync(indexFile, damage(readFileSync(indexFile)));
  const damaged = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(damaged.known).toBeUndefined();
  expect(await damaged.write(hashingSink())).toEqual(written);
  expect(await prepareWorkspaceSnapshot(directory, { indexFolder })).toMatchObject({ known: written, contentReads: 0 });
});

test("another folder's index is never used, even under this folder's name (a copied cache)", async () => {
  const { directory, indexFolder } = workspace();
  ageFiles();
  await (await prepareWorkspaceSnapshot(directory, { indexFolder })).write(hashingSink());
  const copy = join(temporaryFolder(), 'copy');
  cpSync(directory, copy, { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(copy, 'src', 'a.ts'), 'cccc');
  writeFileSync(workspaceIndexFile(indexFolder, copy), readFileSync(workspaceIndexFile(indexFolder, directory)));
  const prepared = await prepareWorkspaceSnapshot(copy, { indexFolder });
  expect(prepared.known).toBeUndefined();
  expect((await prepared.write(hashingSink())).digest).toBe(await freshDigest(copy));
});

test("in a repository the key holds the history's cut: a new commit of the same files is another snapshot", async () => {
  const { directory, indexFolder } = workspace();
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: directory, stdio: ['ignore', 'pipe', 'pipe'] });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'one');
  ageFiles();
  const written = await (await prepareWorkspaceSnapshot(directory, { indexFolder, history: 5 })).write(hashingSink());
  expect(await prepareWorkspaceSnapshot(directory, { indexFolder, history: 5 })).toMatchObject({ known: written, contentReads: 0 });
  expect((await prepareWorkspaceSnapshot(directory, { indexFolder, history: 0 })).known).toBeUndefined();
  git('commit', '-q', '--allow-empty', '-m', 'two');
  expect((await prepareWorkspaceSnapshot(directory, { indexFolder, history: 5 })).known).toBeUndefined();
});

/** The workspace as a repository with one commit, an ignored build folder, an excluded file and an untracked one; the index folder beside it. */
function repositoryWorkspace(): { directory: string; indexFolder: string } {
  const { directory, indexFolder } = workspace();
  mkdirSync(join(directory, 'build'));
  writeFileSync(join(directory, 'build', 'out.txt'), 'built\n');
  writeFileSync(join(directory, 'local.txt'), 'mine\n');
  writeFileSync(join(directory, '.gitignore'), 'build/\n');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: directory, stdio: ['ignore', 'pipe', 'pipe'] });
  git('init', '-q');
  writeFileSync(join(directory, '.git', 'info', 'exclude'), 'local.txt\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'one');
  writeFileSync(join(directory, 'notes.txt'), 'not committed, not ignored\n');
  return { directory, indexFolder };
}

// Each change made after the index, with this process's clock far ahead so the racy-clean rule
// trusts every file's metadata: what notices the change is the metadata or the listing alone.
test.each([
  ['a file added in a folder', (directory: string) => writeFileSync(join(directory, 'src', 'new.ts'), 'new\n')],
  ['a file removed', (directory: string) => rmSync(join(directory, 'README.md'))],
  ['a file renamed', (directory: string) => renameSync(join(directory, 'src', 'b.ts'), join(directory, 'src', 'c.ts'))],
  ['an ignore rule dropped (.gitignore)', (directory: string) => writeFileSync(join(directory, '.gitignore'), '')],
  ['an exclusion dropped (.git/info/exclude)', (directory: string) => writeFileSync(join(directory, '.git', 'info', 'exclude'), '')],
  [
    "an ignored file added to git's index (git add -f)",
    (directory: string) => execFileSync('git', ['add', '-f', 'build/out.txt'], { cwd: directory, stdio: 'ignore' }),
  ],
  ['a .gitignore added in a subfolder', (directory: string) => writeFileSync(join(directory, 'src', '.gitignore'), 'a.ts\n')],
  ['an untracked file newly ignored', (directory: string) => writeFileSync(join(directory, '.git', 'info', 'exclude'), 'local.txt\nnotes.txt\n')],
  [
    'a symlink retargeted',
    (directory: string) => {
      rmSync(join(directory, 'link'));
      symlinkSync('src/b.ts', join(directory, 'link'));
    },
  ],
  ['a file made executable', (directory: string) => chmodSync(join(directory, 'src', 'a.ts'), 0o755)],
  [
    'a file replaced by a folder',
    (directory: string) => {
      rmSync(join(directory, 'src', 'b.ts'));
      mkdirSync(join(directory, 'src', 'b.ts'));
      writeFileSync(join(directory, 'src', 'b.ts', 'inner.ts'), 'export const b = 1;\n');
    },
  ],
  [
    'a file rewritten to the same length, its times put back',
    (directory: string) => {
      const file = join(directory, 'src', 'a.ts');
      const before = statSync(file);
      writeFileSync(file, 'zzzz');
      utimesSync(file, before.atime, before.mtime);
    },
  ],
])('in a repository with history, %s is noticed and the snapshot written then is the true one', async (_name, change) => {
  const { directory, indexFolder } = repositoryWorkspace();
  ageFiles();
  const options = { indexFolder, history: 5 };
  const before = await (await prepareWorkspaceSnapshot(directory, options)).write(hashingSink());
  expect(await prepareWorkspaceSnapshot(directory, options)).toMatchObject({ known: before, contentReads: 0 });
  change(directory);
  const changed = await prepareWorkspaceSnapshot(directory, options);
  expect(changed.known).toBeUndefined();
  const after = await changed.write(hashingSink());
  expect(after.digest).not.toBe(before.digest);
  expect(after.digest).toBe((await writeWorkspaceSnapshot(directory, hashingSink(), { history: 5 })).digest);
  expect(await prepareWorkspaceSnapshot(directory, options)).toMatchObject({ known: after, contentReads: 0 });
});

/** Runs every git through a launcher that records its arguments (and runs it for real). */
function recordGitRuns(): string[][] {
  const runs: string[][] = [];
  useProcessLauncher({
    launch: async ({ argv, cwd, env, input }) => {
      runs.push(argv.filter((argument) => !argument.includes('=') && argument !== '-c'));
      const ran = spawnSync(argv[0]!, argv.slice(1), { cwd, env, ...(input === undefined ? {} : { input }) });
      return { exitCode: ran.status, signal: ran.signal, stdout: ran.stdout, stderr: ran.stderr };
    },
  });
  return runs;
}

const listed = (runs: string[][]) => runs.some((argv) => argv.includes('ls-files'));

test('while its witness holds, an unchanged repository is known without listing it (no git ls-files), and a change lists it again', async () => {
  const { directory, indexFolder } = repositoryWorkspace();
  ageFiles();
  const options = { indexFolder, history: 5 };
  const written = await (await prepareWorkspaceSnapshot(directory, options)).write(hashingSink());
  const runs = recordGitRuns();
  expect(await prepareWorkspaceSnapshot(directory, options)).toMatchObject({ known: written, contentReads: 0 });
  expect(listed(runs)).toBe(false);
  writeFileSync(join(directory, 'src', 'new.ts'), 'new\n');
  expect((await prepareWorkspaceSnapshot(directory, options)).known).toBeUndefined();
  expect(listed(runs)).toBe(true);
});

test("a witness taken within the racy window of its folders' last change is not trusted: the repository is listed again", async () => {
  const { directory, indexFolder } = repositoryWorkspace();
  const options = { indexFolder, history: 5 };
  const written = await (await prepareWorkspaceSnapshot(directory, options)).write(hashingSink());
  const runs = recordGitRuns();
  expect((await prepareWorkspaceSnapshot(directory, options)).known).toEqual(written);
  expect(listed(runs)).toBe(true);
});

test('a folder below the top of a repository is always listed (the .gitignore files above it are not watched)', async () => {
  const { directory, indexFolder } = repositoryWorkspace();
  ageFiles();
  const options = { indexFolder, history: 0 };
  const below = join(directory, 'src');
  writeFileSync(join(below, 'draft.ts'), 'untracked\n');
  const written = await (await prepareWorkspaceSnapshot(below, options)).write(hashingSink());
  const runs = recordGitRuns();
  expect((await prepareWorkspaceSnapshot(below, options)).known).toEqual(written);
  expect(listed(runs)).toBe(true);
  writeFileSync(join(directory, '.gitignore'), 'build/\nsrc/draft.ts\n');
  const changed = await prepareWorkspaceSnapshot(below, options);
  expect(changed.known).toBeUndefined();
  expect((await changed.write(hashingSink())).digest).toBe(await freshDigest(below));
});

test('a repository whose config names an excludes file is listed every time, and a rule added there is noticed', async () => {
  const { directory, indexFolder } = repositoryWorkspace();
  const excludes = join(temporaryFolder(), 'excludes');
  writeFileSync(excludes, '');
  execFileSync('git', ['config', 'core.excludesFile', excludes], { cwd: directory });
  ageFiles();
  const options = { indexFolder, history: 5 };
  const written = await (await prepareWorkspaceSnapshot(directory, options)).write(hashingSink());
  const runs = recordGitRuns();
  expect(await prepareWorkspaceSnapshot(directory, options)).toMatchObject({ known: written, contentReads: 0 });
  expect(listed(runs)).toBe(true);
  writeFileSync(excludes, 'notes.txt\n');
  const changed = await prepareWorkspaceSnapshot(directory, options);
  expect(changed.known).toBeUndefined();
  expect((await changed.write(hashingSink())).digest).toBe((await writeWorkspaceSnapshot(directory, hashingSink(), { history: 5 })).digest);
});

test('a folder nested in the workspace is noticed when it becomes a repository (its .git fills in)', async () => {
  const { directory, indexFolder } = repositoryWorkspace();
  mkdirSync(join(directory, 'vendor', 'lib', '.git'), { recursive: true });
  writeFileSync(join(directory, 'vendor', 'lib', 'code.ts'), 'vendored\n');
  ageFiles();
  const options = { indexFolder, history: 5 };
  const before = await (await prepareWorkspaceSnapshot(directory, options)).write(hashingSink());
  expect((await prepareWorkspaceSnapshot(directory, options)).known).toEqual(before);
  execFileSync('git', ['init', '-q'], { cwd: join(directory, 'vendor', 'lib') });
  // git now lists the nested repository as one entry, `vendor/lib/`, which a snapshot refuses, as a fresh one does.
  await expect(prepareWorkspaceSnapshot(directory, options)).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'vendor/lib/' });
  await expect(writeWorkspaceSnapshot(directory, hashingSink(), { history: 5 })).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID' });
});

test('an index of the former format (JSON) is ignored and removed when its successor is written', async () => {
  const { directory, indexFolder } = workspace();
  const former = workspaceIndexFile(indexFolder, directory).replace(/\.index$/, '.json');
  mkdirSync(indexFolder, { recursive: true });
  writeFileSync(former, JSON.stringify({ format: 'cairn.workspace-index/v1', directory }));
  const prepared = await prepareWorkspaceSnapshot(directory, { indexFolder });
  expect(prepared.known).toBeUndefined();
  await prepared.write(hashingSink());
  expect(readdirSync(indexFolder)).toEqual([basename(workspaceIndexFile(indexFolder, directory))]);
});

test('without an index folder nothing is kept and nothing is known', async () => {
  const { directory } = workspace();
  const prepared = await prepareWorkspaceSnapshot(directory, { indexFolder: false });
  expect((await prepared.write(hashingSink())).digest).toBe(await freshDigest(directory));
  expect((await prepareWorkspaceSnapshot(directory, { indexFolder: false })).known).toBeUndefined();
});

test('the index folder keeps the indexes of the latest workspaces only', async () => {
  const indexFolder = join(temporaryFolder(), 'index');
  for (let count = 0; count < indexedWorkspaceLimit + 3; count++) {
    const directory = join(temporaryFolder(), `w${count}`);
    mkdirSync(directory);
    writeFileSync(join(directory, 'file'), `${count}`);
    await (await prepareWorkspaceSnapshot(directory, { indexFolder })).write(hashingSink());
  }
  expect(readdirSync(indexFolder)).toHaveLength(indexedWorkspaceLimit);
});
