import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCairnError, sha256Digest } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { git, run, temporaryDirectory } from '../testing/worker.test-support.ts';
import { extractSnapshot } from './extract-snapshot.ts';
import { readTar, snapshotWorkspace, writeTar, type TarEntry } from '@cairn/protocol/workspace';

const text = (value: string) => new TextEncoder().encode(value);

async function refusal(operation: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await operation.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isCairnError(error)) throw new Error(`expected a CairnError, got ${String(error)}`);
  return { code: error.code, message: error.message };
}

/** A tar built by GNU tar from `build(source)`, with extra tar options. */
function gnuTar(build: (source: string) => void, options: string[], members: string[]): Uint8Array {
  const directory = temporaryDirectory();
  const source = join(directory, 'source');
  mkdirSync(source);
  build(source);
  run('tar', ['-cf', '../out.tar', ...options, ...members], source);
  return readFileSync(join(directory, 'out.tar'));
}

describe('extractSnapshot', () => {
  test('writes files with their modes, symlinks as they are, and directories beneath', async () => {
    const target = temporaryDirectory();
    const entries: TarEntry[] = [
      { kind: 'file', path: 'a/b/c.txt', executable: false, content: text('c') },
      { kind: 'file', path: 'run.sh', executable: true, content: text('#!/bin/sh') },
      { kind: 'symlink', path: 'a/link', target: 'b/c.txt' },
      { kind: 'symlink', path: 'abs', target: '/etc/hostname' },
    ];
    expect(await extractSnapshot(writeTar(entries), target, 'snapshot')).toEqual({ entries: 4 });
    expect(readFileSync(join(target, 'a/b/c.txt'), 'utf8')).toBe('c');
    expect(lstatSync(join(target, 'run.sh')).mode & 0o7777).toBe(0o755 & ~process.umask());
    expect(lstatSync(join(target, 'a/b/c.txt')).mode & 0o7777).toBe(0o644 & ~process.umask());
    expect(readlinkSync(join(target, 'a/link'))).toBe('b/c.txt');
    expect(readlinkSync(join(target, 'abs'))).toBe('/etc/hostname');
  });

  test('a setuid member is written without the bit and owned by the worker', async () => {
    const target = temporaryDirectory();
    const tar = gnuTar(
      (source) => {
        writeFileSync(join(source, 'tool'), 'x');
        chmodSync(join(source, 'tool'), 0o6755);
      },
      ['--owner=1234', '--group=1234', '--numeric-owner'],
      ['tool'],
    );
    await extractSnapshot(tar, target, 'snapshot');
    const stats = lstatSync(join(target, 'tool'));
    expect(stats.mode & 0o7000).toBe(0);
    expect(stats.uid).toBe(process.getuid!());
  });

  const unsafe: [string, () => Uint8Array, string][] = [
    [
      'a member escaping with ..',
      () =>
        gnuTar(
          (source) => {
            mkdirSync(join(source, 'in'));
            writeFileSync(join(source, 'x'), 'x');
          },
          ['-P'],
          ['in/../x'],
        ),
      'has a ".." segment',
    ],
    ['an absolute member', () => gnuTar((source) => writeFileSync(join(source, 'x'), 'x'), ['-P', '--transform=s,^,/tmp/,'], ['x']), 'is absolute'],
    ['git metadata', () => writeTar([{ kind: 'file', path: '.git/config', executable: false, content: text('[core]') }]), 'is inside git metadata'],
    [
      'git metadata in another case',
      () => writeTar([{ kind: 'file', path: 'sub/.GIT/hooks/x', executable: true, content: text('') }]),
      'is inside git metadata',
    ],
    [
      'a member beneath a symlink (write-through)',
      () =>
        writeTar([
          { kind: 'symlink', path: 'out', target: '/tmp' },
          { kind: 'file', path: 'out/evil', executable: false, content: text('x') },
        ]),
      'lies beneath the symlink "out"',
    ],
    [
      'a member beneath a file',
      () =>
        writeTar([
          { kind: 'file', path: 'f', executable: false, content: text('') },
          { kind: 'file', path: 'f/g', executable: false, content: text('') },
        ]),
      'lies beneath the file "f"',
    ],
    [
      'a duplicate',
      () =>
        writeTar([
          { kind: 'file', path: 'f', executable: false, content: text('1') },
          { kind: 'symlink', path: 'f', target: 'x' },
        ]),
      'appears twice',
    ],
    ['a FIFO', () => gnuTar((source) => run('mkfifo', [join(source, 'pipe')]), [], ['pipe']), 'is a FIFO'],
    [
      'a hard link',
      () =>
        gnuTar(
          (source) => {
            writeFileSync(join(source, 'a'), 'a');
            run('ln', [join(source, 'a'), join(source, 'b')]);
          },
          [],
          ['a', 'b'],
        ),
      'is a hard link',
    ],
    ['not a tar', () => text('definitely not a tar archive, but it is long enough to read a header from it '.repeat(8)), 'not a usable snapshot tar'],
  ];
  if (process.getuid?.() === 0) {
    unsafe.push(['a device', () => gnuTar((source) => run('mknod', [join(source, 'null'), 'c', '1', '3']), [], ['null']), 'is a character device']);
  }

  test.each(unsafe)('refuses %s, and writes nothing', async (_, build, problem) => {
    const target = temporaryDirectory();
    const { code, message } = await refusal(extractSnapshot(build(), target, 'the workspace snapshot sha256:x'));
    expect(code).toBe('CAIRN_PAYLOAD_INVALID');
    expect(message).toContain(problem);
    expect(message).toContain('the workspace snapshot sha256:x');
    expect(readdirSync(target)).toEqual([]);
  });
});

describe('snapshotWorkspace', () => {
  test('a folder that does not exist, or is a file, is CAIRN_PAYLOAD_INVALID naming it (never `spawn git ENOENT`)', async () => {
    const directory = temporaryDirectory();
    const missing = join(directory, 'no-such-folder');
    await expect(snapshotWorkspace(missing)).rejects.toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      path: missing,
      message: expect.stringContaining('there is no such folder'),
    });
    writeFileSync(join(directory, 'a-file'), 'x');
    await expect(snapshotWorkspace(join(directory, 'a-file'))).rejects.toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      message: expect.stringContaining('it is not a folder'),
    });
  });

  test('a git work tree: tracked and untracked files as on disk, ignored and deleted ones left out', async () => {
    const directory = temporaryDirectory();
    git(directory, ['init', '-q']);
    writeFileSync(join(directory, '.gitignore'), 'build/\n*.log\n');
    writeFileSync(join(directory, 'tracked.txt'), 'committed\n');
    writeFileSync(join(directory, 'deleted.txt'), 'gone soon\n');
    git(directory, ['add', '-A']);
    git(directory, ['commit', '-qm', 'x']);
    writeFileSync(join(directory, 'tracked.txt'), 'edited, not committed\n');
    rmSync(join(directory, 'deleted.txt'));
    writeFileSync(join(directory, 'untracked.txt'), 'new\n');
    writeFileSync(join(directory, 'debug.log'), 'ignored\n');
    mkdirSync(join(directory, 'build'));
    writeFileSync(join(directory, 'build', 'out.bin'), 'ignored\n');
    symlinkSync('tracked.txt', join(directory, 'link'));
    const snapshot = await snapshotWorkspace(directory);
    const members = readTar(snapshot.bytes);
    expect(members.map((member) => member.path)).toEqual(['.gitignore', 'link', 'tracked.txt', 'untracked.txt']);
    expect(members[1]).toEqual({ kind: 'symlink', path: 'link', target: 'tracked.txt' });
    expect(members[2]).toMatchObject({ kind: 'file', executable: false });
    expect(Buffer.from((members[2] as { content: Uint8Array }).content).toString()).toBe('edited, not committed\n');
    expect(snapshot.digest).toBe(sha256Digest(snapshot.bytes));
    expect(snapshot.entries).toBe(4);
  });

  test('a plain directory: every file and symlink, .git folders skipped, executables kept', async () => {
    const directory = temporaryDirectory();
    mkdirSync(join(directory, 'vendor/lib/.git'), { recursive: true });
    writeFileSync(join(directory, 'vendor/lib/.git/config'), '[core]');
    writeFileSync(join(directory, 'vendor/lib/index.js'), 'x');
    writeFileSync(join(directory, 'tool.sh'), '#!/bin/sh');
    chmodSync(join(directory, 'tool.sh'), 0o755);
    mkdirSync(join(directory, 'empty'));
    const members = readTar((await snapshotWorkspace(directory)).bytes);
    expect(members.map((member) => [member.path, member.kind === 'file' && member.executable])).toEqual([
      ['tool.sh', true],
      ['vendor/lib/index.js', false],
    ]);
  });

  test('deterministic: the same content in another place with other times has the same digest', async () => {
    const build = (directory: string, time: number) => {
      mkdirSync(join(directory, 'z/y'), { recursive: true });
      for (const [path, content] of [
        ['b.txt', 'b'],
        ['a.txt', 'a'],
        ['z/y/deep.txt', 'deep'],
      ] as const) {
        writeFileSync(join(directory, path), content);
        utimesSync(join(directory, path), time, time);
      }
    };
    const first = temporaryDirectory();
    const second = temporaryDirectory();
    build(first, 1_000_000);
    build(second, 2_000_000);
    expect((await snapshotWorkspace(first)).digest).toBe((await snapshotWorkspace(second)).digest);
  });

  test('an empty directory is the empty workspace, sha256("")', async () => {
    const snapshot = await snapshotWorkspace(temporaryDirectory());
    expect(snapshot).toEqual({ bytes: new Uint8Array(0), digest: sha256Digest(''), entries: 0 });
  });

  test('a FIFO is refused, naming it', async () => {
    const directory = temporaryDirectory();
    run('mkfifo', [join(directory, 'pipe')]);
    const { code, message } = await refusal(snapshotWorkspace(directory));
    expect(code).toBe('CAIRN_PAYLOAD_INVALID');
    expect(message).toContain('"pipe"');
    expect(message).toContain('FIFO');
  });

  test('what it takes, extractSnapshot gives back byte for byte', async () => {
    const directory = temporaryDirectory();
    mkdirSync(join(directory, 'src'));
    writeFileSync(join(directory, 'src/binary.bin'), Buffer.from([0, 1, 2, 255, 254, 0]));
    writeFileSync(join(directory, 'src/run'), 'x');
    chmodSync(join(directory, 'src/run'), 0o755);
    symlinkSync('src/run', join(directory, 'run'));
    const target = temporaryDirectory();
    await extractSnapshot((await snapshotWorkspace(directory)).bytes, target, 'snapshot');
    expect((await snapshotWorkspace(target)).digest).toBe((await snapshotWorkspace(directory)).digest);
  });
});
