import { mkdirSync, symlinkSync, writeFileSync, chmodSync, linkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { run, temporaryDirectory } from '../testing/worker.test-support.ts';
import { readTar, writeTar, type TarEntry } from '@cairn/protocol/workspace';

const text = (value: string) => new TextEncoder().encode(value);
const longSegment = 'directory-with-a-rather-long-name-'.repeat(3);

const entries: TarEntry[] = [
  { kind: 'file', path: 'README.md', executable: false, content: text('hello\n') },
  { kind: 'file', path: 'bin/run.sh', executable: true, content: text('#!/bin/sh\necho hi\n') },
  { kind: 'file', path: 'empty', executable: false, content: new Uint8Array(0) },
  { kind: 'file', path: `${longSegment}/${longSegment}/file.txt`, executable: false, content: new Uint8Array(1024).fill(7) },
  { kind: 'file', path: `${'x'.repeat(120)}/y`, executable: false, content: text('prefix split') },
  { kind: 'file', path: `${'z'.repeat(180)}`, executable: false, content: text('pax path') },
  { kind: 'file', path: 'unicode/日本語 é.txt', executable: false, content: text('ok') },
  { kind: 'symlink', path: 'link', target: 'README.md' },
  { kind: 'symlink', path: 'long-link', target: `${longSegment}/${longSegment}/file.txt` },
];

describe('writeTar and readTar', () => {
  test('round trip: files, modes, long names (ustar prefix and pax), symlinks with long targets', () => {
    const members = readTar(writeTar(entries));
    expect(members).toEqual(entries.map((entry) => (entry.kind === 'file' ? { ...entry, content: expect.anything() } : entry)));
    members.forEach((member, index) => {
      const entry = entries[index]!;
      if (member.kind === 'file' && entry.kind === 'file') expect(Buffer.from(member.content).equals(Buffer.from(entry.content))).toBe(true);
    });
  });

  test('deterministic: the same entries give the same bytes; no entries give zero bytes', () => {
    expect(Buffer.from(writeTar(entries)).equals(Buffer.from(writeTar(entries)))).toBe(true);
    expect(writeTar([]).byteLength).toBe(0);
    expect(readTar(new Uint8Array(0))).toEqual([]);
  });

  test('GNU tar reads what writeTar writes: names, modes 0644/0755, owner 0/0, mtime 0', () => {
    const directory = temporaryDirectory();
    writeFileSync(join(directory, 'snapshot.tar'), writeTar(entries));
    const listing = run('tar', ['--numeric-owner', '--full-time', '-tvf', 'snapshot.tar'], directory).trim().split('\n');
    expect(listing).toHaveLength(entries.length);
    expect(listing[0]).toMatch(/^-rw-r--r-- 0\/0 +6 1970-01-01 00:00:00 README\.md$/);
    expect(listing[1]).toMatch(/^-rwxr-xr-x 0\/0 .* bin\/run\.sh$/);
    expect(listing[5]).toContain('z'.repeat(180));
    expect(listing[8]).toContain(`long-link -> ${longSegment}/${longSegment}/file.txt`);
    const out = join(directory, 'out');
    mkdirSync(out);
    run('tar', ['-xf', '../snapshot.tar'], out);
    expect(readFileSync(join(out, `${longSegment}/${longSegment}/file.txt`))).toHaveLength(1024);
  });

  test('reads GNU tar archives: ./ prefixes, directory members, GNU long names', () => {
    const directory = temporaryDirectory();
    const source = join(directory, 'source');
    mkdirSync(join(source, 'sub'), { recursive: true });
    writeFileSync(join(source, 'sub', `${'n'.repeat(150)}.txt`), 'long');
    symlinkSync('sub', join(source, 'to-sub'));
    run('tar', ['--format=gnu', '-cf', '../gnu.tar', '.'], source);
    const members = readTar(readFileSync(join(directory, 'gnu.tar')));
    expect(members.map((member) => [member.kind, member.path])).toEqual(
      expect.arrayContaining([
        ['directory', './sub/'],
        ['file', `./sub/${'n'.repeat(150)}.txt`],
        ['symlink', './to-sub'],
      ]),
    );
  });

  test('refuses hard links, FIFOs and devices, naming the member', () => {
    const directory = temporaryDirectory();
    const source = join(directory, 'source');
    mkdirSync(source);
    writeFileSync(join(source, 'a'), 'a');
    linkSync(join(source, 'a'), join(source, 'b'));
    run('tar', ['-cf', '../hardlink.tar', 'a', 'b'], source);
    expect(() => readTar(readFileSync(join(directory, 'hardlink.tar')))).toThrow('"b" is a hard link');
    run('mkfifo', [join(source, 'pipe')]);
    run('tar', ['-cf', '../fifo.tar', 'pipe'], source);
    expect(() => readTar(readFileSync(join(directory, 'fifo.tar')))).toThrow('"pipe" is a FIFO');
    if (process.getuid?.() === 0) {
      run('mknod', [join(source, 'null'), 'c', '1', '3']);
      run('tar', ['-cf', '../device.tar', 'null'], source);
      expect(() => readTar(readFileSync(join(directory, 'device.tar')))).toThrow('"null" is a character device');
    }
  });

  test('refuses a corrupted header and a truncated archive', () => {
    const bytes = writeTar(entries.slice(0, 2));
    const corrupted = Uint8Array.from(bytes);
    corrupted[10] = corrupted[10]! ^ 0xff;
    expect(() => readTar(corrupted)).toThrow('wrong checksum');
    expect(() => readTar(bytes.subarray(0, 512))).toThrow('runs past the end');
    expect(() => readTar(bytes.subarray(0, bytes.byteLength - 1024))).toThrow('truncated');
  });

  test('keeps setuid out: a 04755 member reads as executable, nothing more', () => {
    const directory = temporaryDirectory();
    const source = join(directory, 'source');
    mkdirSync(source);
    writeFileSync(join(source, 'tool'), 'x');
    chmodSync(join(source, 'tool'), 0o4755);
    run('tar', ['-cf', '../setuid.tar', 'tool'], source);
    expect(readTar(readFileSync(join(directory, 'setuid.tar')))).toEqual([{ kind: 'file', path: 'tool', executable: true, content: expect.anything() }]);
  });
});
