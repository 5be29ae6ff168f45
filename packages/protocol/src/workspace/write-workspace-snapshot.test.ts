// The streamed snapshot is the whole-file snapshot, byte for byte: checked against `writeTar`
// over entries read whole by a walk of the test's own, on a folder of every kind of member.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  createWriteStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, expect, test } from 'vitest';
import { isCairnError } from '../errors/cairn-error.ts';
import { snapshotWorkspace } from './snapshot-workspace.ts';
import type { TarEntry } from './tar-entry.ts';
import { writeTar } from './write-tar.ts';
import { writeWorkspaceSnapshot } from './write-workspace-snapshot.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function temporaryFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-snapshot-stream-'));
  folders.push(folder);
  return folder;
}

/** Every file and symlink under `directory` (no .git), read whole, sorted by UTF-8 bytes: what the snapshot holds. */
function entriesReadWhole(directory: string, prefix = ''): TarEntry[] {
  const entries: TarEntry[] = [];
  for (const name of readdirSync(join(directory, prefix))) {
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const stats = lstatSync(join(directory, path));
    if (stats.isDirectory()) entries.push(...entriesReadWhole(directory, path));
    else if (stats.isSymbolicLink()) entries.push({ kind: 'symlink', path, target: readlinkSync(join(directory, path)) });
    else entries.push({ kind: 'file', path, executable: (stats.mode & 0o100) !== 0, content: readFileSync(join(directory, path)) });
  }
  return prefix === '' ? entries.sort((left, right) => Buffer.compare(Buffer.from(left.path), Buffer.from(right.path))) : entries;
}

/** A folder with odd names, ustar-split and pax paths, long and short links, executables, empty, boundary-sized and large files. */
function workspaceOfEveryKind(): string {
  const directory = temporaryFolder();
  const long = 'a-folder-whose-name-is-long-enough-'.repeat(2);
  mkdirSync(join(directory, long, long, long), { recursive: true });
  mkdirSync(join(directory, 'odd names', 'ünïcödé 日本語'), { recursive: true });
  mkdirSync(join(directory, 'many'));
  writeFileSync(join(directory, 'README.md'), 'hello\n');
  writeFileSync(join(directory, 'empty'), '');
  writeFileSync(join(directory, 'odd names', 'new\nline'), 'newline in the name');
  writeFileSync(join(directory, 'odd names', 'tab\tand "quotes" and back\\slash #'), 'x');
  writeFileSync(join(directory, 'odd names', 'ünïcödé 日本語', 'é.txt'), 'é');
  writeFileSync(join(directory, long, 'prefix-split.txt'), 'a path over 100 bytes that ustar splits');
  writeFileSync(join(directory, long, long, long, `${'n'.repeat(120)}.txt`), 'a path only pax holds');
  writeFileSync(join(directory, 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(directory, 'run.sh'), 0o755);
  symlinkSync('README.md', join(directory, 'link'));
  symlinkSync(`${long}/${long}/${long}/${'n'.repeat(120)}.txt`, join(directory, 'long-link'));
  symlinkSync('/nowhere/at/all', join(directory, 'dangling'));
  // Either side of the size above which a file is read in chunks, and a multi-chunk file that ends mid-block.
  writeFileSync(join(directory, 'exactly-64k'), Buffer.alloc(64 * 1024, 1));
  writeFileSync(join(directory, 'just-over-64k'), Buffer.alloc(64 * 1024 + 1, 2));
  const large = Buffer.alloc(5 * 1024 * 1024 + 3);
  for (let index = 0; index < large.length; index += 1) large[index] = (index * 31 + (index >> 13)) & 0xff;
  writeFileSync(join(directory, 'large.bin'), large);
  chmodSync(join(directory, 'large.bin'), 0o755);
  // More members than are looked up at once.
  for (let index = 0; index < 150; index += 1) writeFileSync(join(directory, 'many', `file-${index}`), `file ${index}\n`.repeat(index));
  return directory;
}

/** Collects what a stream is given, as a file would. */
function collector(): { stream: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
}

test('the streamed snapshot is the bytes writeTar makes of the same folder, and snapshotWorkspace is too', async () => {
  const directory = workspaceOfEveryKind();
  const expected = Buffer.from(writeTar(entriesReadWhole(directory)));
  const { stream, bytes } = collector();
  const written = await writeWorkspaceSnapshot(directory, stream);
  expect(bytes().equals(expected)).toBe(true);
  expect(written).toEqual({ digest: `sha256:${createHash('sha256').update(expected).digest('hex')}`, bytes: expected.byteLength, entries: 164 });
  const whole = await snapshotWorkspace(directory);
  expect(Buffer.from(whole.bytes).equals(expected)).toBe(true);
  expect(whole.digest).toBe(written.digest);
  expect(whole.entries).toBe(written.entries);
});

test('written to a file: the same bytes; GNU tar lists every member', async () => {
  const directory = workspaceOfEveryKind();
  const file = join(temporaryFolder(), 'snapshot.tar');
  const written = await writeWorkspaceSnapshot(directory, createWriteStream(file));
  const onDisk = readFileSync(file);
  expect(onDisk.equals(Buffer.from(writeTar(entriesReadWhole(directory))))).toBe(true);
  expect(written.bytes).toBe(onDisk.byteLength);
  const listed = execFileSync('tar', ['-tf', file], { encoding: 'utf8' });
  expect(listed).toContain(`${'n'.repeat(120)}.txt`);
  expect(listed).toContain('large.bin');
});

test('inside a git work tree the same files as snapshotWorkspace, ignored ones left out', async () => {
  const directory = workspaceOfEveryKind();
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: directory, stdio: 'pipe' });
  git('init', '-q');
  writeFileSync(join(directory, '.gitignore'), 'many/\n');
  git('add', 'README.md', '.gitignore');
  git('commit', '-qm', 'first');
  const { stream, bytes } = collector();
  const written = await writeWorkspaceSnapshot(directory, stream);
  const whole = await snapshotWorkspace(directory);
  expect(bytes().equals(Buffer.from(whole.bytes))).toBe(true);
  expect(written.entries).toBe(164 - 150 + 1);
});

test('an empty folder is zero bytes, sha256("")', async () => {
  const { stream, bytes } = collector();
  expect(await writeWorkspaceSnapshot(temporaryFolder(), stream)).toEqual({
    digest: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    bytes: 0,
    entries: 0,
  });
  expect(bytes().byteLength).toBe(0);
});

test('a missing folder is CAIRN_PAYLOAD_INVALID naming it, and the destination is not left open', async () => {
  const missing = join(temporaryFolder(), 'missing');
  const { stream } = collector();
  const error = await writeWorkspaceSnapshot(missing, stream).catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
  expect((error as Error).message).toContain(missing);
  expect(stream.destroyed).toBe(true);
});
