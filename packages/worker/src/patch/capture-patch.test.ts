import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { isCairnError, sha256Digest } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { AttemptWorkspace } from '../git/attempt-workspace.ts';
import { parseRawDiff } from '../git/raw-diff.ts';
import { extractSnapshot } from '../snapshot/extract-snapshot.ts';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { canLayer, layeredAttempt, overlayLayers } from '../testing/overlay-layers.test-support.ts';
import { git, run, temporaryDirectory } from '../testing/worker.test-support.ts';
import { capturePatch, type CapturePatchOptions } from './capture-patch.ts';

const paragraph = (seed: string) =>
  Array.from({ length: 40 }, (_, line) => `${seed} line ${line}: the quick brown fox jumps over the lazy dog`).join('\n') + '\n';

/** The baseline every test starts from, as a snapshot tar. */
async function baselineSnapshot(extra: (directory: string) => void = () => undefined): Promise<Uint8Array> {
  const directory = temporaryDirectory();
  mkdirSync(join(directory, 'src/nested'), { recursive: true });
  writeFileSync(join(directory, 'src/text.txt'), paragraph('text'));
  writeFileSync(join(directory, 'src/binary.bin'), Buffer.from(Array.from({ length: 3000 }, (_, index) => (index * 7) % 256)));
  writeFileSync(join(directory, 'src/delete-me.txt'), 'delete me\n');
  writeFileSync(join(directory, 'src/rename-me.txt'), paragraph('rename'));
  writeFileSync(join(directory, 'src/script.sh'), '#!/bin/sh\necho script\n');
  writeFileSync(join(directory, 'src/nested/keep.txt'), 'keep\n');
  symlinkSync('nested/keep.txt', join(directory, 'src/old-link'));
  extra(directory);
  return (await snapshotWorkspace(directory)).bytes;
}

async function prepared(extra?: (directory: string) => void): Promise<{ attempt: AttemptWorkspace; snapshot: Uint8Array }> {
  return preparedAs('extracted', extra);
}

/** How a workspace is made: its snapshot extracted into it, or a layer over a tree of it (root only). */
type Preparation = 'extracted' | 'layered';
const preparations: Preparation[] = canLayer ? ['extracted', 'layered'] : ['extracted'];

async function preparedAs(how: Preparation, extra?: (directory: string) => void): Promise<{ attempt: AttemptWorkspace; snapshot: Uint8Array }> {
  const snapshot = await baselineSnapshot(extra);
  if (how === 'layered') return { attempt: await layeredAttempt(overlayLayers(), snapshot, sha256Digest(snapshot)), snapshot };
  return { attempt: await AttemptWorkspace.prepare({ root: temporaryDirectory(), snapshot }), snapshot };
}

/** Every file, directory and symlink under `directory`: type, executable bit, bytes or target. */
function tree(directory: string, skip: readonly string[] = ['.git']): Record<string, string> {
  const entries: Record<string, string> = {};
  const visit = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      const key = relative(directory, path);
      if (skip.includes(key)) continue;
      const stats = lstatSync(path);
      if (stats.isSymbolicLink()) entries[key] = `symlink -> ${readlinkSync(path)}`;
      else if (stats.isDirectory()) visit(path);
      else entries[key] = `file ${stats.mode & 0o100 ? 'x' : '-'} ${readFileSync(path).toString('base64')}`;
    }
  };
  visit(directory);
  return entries;
}

async function refusal(
  attempt: AttemptWorkspace,
  options: Partial<CapturePatchOptions> = {},
): Promise<{ rule: unknown; message: string; path: string | undefined }> {
  const error = await capturePatch(attempt, { maxPatchBytes: 10_000_000, ...options }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isCairnError(error, 'CAIRN_PAYLOAD_INVALID')) throw new Error(`expected CAIRN_PAYLOAD_INVALID, got ${String(error)}`);
  return { rule: error.details['rule'], message: error.message, path: error.path };
}

describe('capturePatch round trip', () => {
  test('text edit, binary edit and new binary, delete, rename, chmod +x, symlinks: git apply --index on a fresh baseline gives the same tree and index', async () => {
    const { attempt, snapshot } = await prepared();
    const workspace = attempt.workspace;
    writeFileSync(join(workspace, 'src/text.txt'), paragraph('text').replace('line 3:', 'line three:'));
    const binary = readFileSync(join(workspace, 'src/binary.bin'));
    binary[100] = 0;
    binary[2000] = 255;
    writeFileSync(join(workspace, 'src/binary.bin'), binary);
    writeFileSync(join(workspace, 'new.bin'), Buffer.from([0, 159, 146, 150, 0, 1]));
    rmSync(join(workspace, 'src/delete-me.txt'));
    renameSync(join(workspace, 'src/rename-me.txt'), join(workspace, 'src/renamed.txt'));
    chmodSync(join(workspace, 'src/script.sh'), 0o755);
    symlinkSync('nested/keep.txt', join(workspace, 'src/new-link'));
    mkdirSync(join(workspace, 'docs/deep'), { recursive: true });
    symlinkSync('../../src', join(workspace, 'docs/deep/to-src'));
    rmSync(join(workspace, 'src/old-link'));
    symlinkSync('text.txt', join(workspace, 'src/old-link'));

    const captured = await capturePatch(attempt, { maxPatchBytes: 1_000_000 });
    expect(captured.patch).not.toBeNull();
    const patchText = Buffer.from(captured.patch!).toString('utf8');
    expect(patchText).toContain('rename from src/rename-me.txt');
    expect(patchText).toContain('old mode 100644\nnew mode 100755');
    expect(patchText).toContain('GIT binary patch');
    expect(patchText).toContain('new file mode 120000');
    expect(captured.stats).toEqual({ filesChanged: 9, bytes: captured.patch!.byteLength });
    expect(captured.files.map((file) => `${file.status} ${file.path}`).sort()).toEqual([
      'A docs/deep/to-src',
      'A new.bin',
      'A src/new-link',
      'D src/delete-me.txt',
      'M src/binary.bin',
      'M src/old-link',
      'M src/script.sh',
      'M src/text.txt',
      'R src/renamed.txt',
    ]);

    // The user's side: a fresh copy of the baseline in a plain repository.
    const fresh = temporaryDirectory();
    await extractSnapshot(snapshot, fresh, 'snapshot');
    git(fresh, ['init', '-q']);
    git(fresh, ['add', '-A']);
    git(fresh, ['commit', '-qm', 'baseline']);
    git(fresh, ['apply', '--index'], captured.patch!);
    expect(tree(fresh)).toEqual(tree(workspace));
    const attemptIndex = run('git', ['--git-dir', attempt.git.gitDirectory, 'ls-files', '-s']);
    expect(git(fresh, ['ls-files', '-s'])).toBe(attemptIndex);
  });

  test('names git quotes (a newline, a tab, a quote, UTF-8, invalid UTF-8): the patch and listing are what git diff --binary and --raw print on their own', async () => {
    const { attempt } = await prepared();
    const workspace = attempt.workspace;
    writeFileSync(join(workspace, 'new\nline.txt'), 'a\n');
    writeFileSync(join(workspace, 'tab\there "q".txt'), 'b\n');
    writeFileSync(join(workspace, 'café.txt'), 'c\n');
    writeFileSync(Buffer.concat([Buffer.from(`${workspace}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'd\n');
    renameSync(join(workspace, 'src/rename-me.txt'), join(workspace, 'src/renamed.txt'));
    chmodSync(join(workspace, 'src/script.sh'), 0o755);
    rmSync(join(workspace, 'src/delete-me.txt'));

    const captured = await capturePatch(attempt, { maxPatchBytes: 1_000_000, pathRules: 'posix' });
    const gitAlone = (args: readonly string[]) =>
      execFileSync(
        'git',
        ['--git-dir', attempt.git.gitDirectory, '--work-tree', workspace, '-c', 'core.quotePath=false', 'diff', '--cached', ...args, attempt.baseline],
        {
          env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' },
        },
      );
    const patch = gitAlone(['--binary', '-M', '--no-color', '--no-ext-diff', '--no-textconv', '--src-prefix=a/', '--dst-prefix=b/']);
    expect(Buffer.from(captured.patch!).equals(patch)).toBe(true);
    expect(captured.files).toEqual(parseRawDiff(gitAlone(['--raw', '-z', '-M', '--no-abbrev'])));
    expect(captured.files.map((file) => file.status).sort()).toEqual(['A', 'A', 'A', 'A', 'D', 'M', 'R']);
  });

  test('no change: no patch', async () => {
    const { attempt } = await prepared();
    expect(await capturePatch(attempt, { maxPatchBytes: 100 })).toEqual({ patch: null, stats: { filesChanged: 0, bytes: 0 }, files: [] });
  });

  test('excluded paths (output.json) stay out of the patch', async () => {
    const { attempt } = await prepared();
    writeFileSync(join(attempt.workspace, 'output.json'), '{"a":1}');
    writeFileSync(join(attempt.workspace, 'kept.txt'), 'kept');
    const captured = await capturePatch(attempt, { maxPatchBytes: 100_000, exclude: ['output.json'] });
    expect(captured.files.map((file) => file.path)).toEqual(['kept.txt']);
  });

  test('a .gitattributes the runtime writes does not change what is captured (eol, ident)', async () => {
    const { attempt, snapshot } = await prepared();
    writeFileSync(join(attempt.workspace, '.gitattributes'), '* text eol=crlf ident\n*.bin -diff\n');
    writeFileSync(join(attempt.workspace, 'crlf.txt'), 'one\r\ntwo\n$Id$\n');
    const captured = await capturePatch(attempt, { maxPatchBytes: 100_000 });
    const fresh = temporaryDirectory();
    await extractSnapshot(snapshot, fresh, 'snapshot');
    git(fresh, ['init', '-q']);
    // The user's side holds no attributes either when the patch is applied into a plain checkout.
    git(fresh, ['apply'], captured.patch!);
    expect(readFileSync(join(fresh, 'crlf.txt'), 'utf8')).toBe('one\r\ntwo\n$Id$\n');
  });

  test("the user's own absolute symlink in the baseline is not the attempt's doing", async () => {
    const { attempt } = await prepared((directory) => symlinkSync('/usr/share', join(directory, 'system-share')));
    symlinkSync('src', join(attempt.workspace, 'inside-link'));
    const captured = await capturePatch(attempt, { maxPatchBytes: 100_000 });
    expect(captured.files.map((file) => file.path)).toEqual(['inside-link']);
  });
});

describe.each(preparations)('capturePatch refuses unsafe changes (%s workspace)', (how) => {
  const cases: [string, (workspace: string) => void, string, string][] = [
    [
      "a .git file below the top (the top one is the workspace's own repository)",
      (workspace) => writeFileSync(join(workspace, 'src/.git'), 'gitdir: /etc\n'),
      'git-metadata',
      'is git metadata',
    ],
    [
      '.git in another spelling',
      (workspace) => {
        mkdirSync(join(workspace, 'src/.Git '));
        writeFileSync(join(workspace, 'src/.Git /HEAD'), 'x');
      },
      'git-metadata',
      'is git metadata',
    ],
    [
      'a symlink to /etc/passwd',
      (workspace) => symlinkSync('/etc/passwd', join(workspace, 'passwd')),
      'symlink-escape',
      'points at the absolute path "/etc/passwd"',
    ],
    ['a symlink escaping with ../..', (workspace) => symlinkSync('../../secret', join(workspace, 'src/up')), 'symlink-escape', 'points outside the workspace'],
    [
      'a chain of symlinks that escapes only together',
      (workspace) => {
        symlinkSync('..', join(workspace, 'src/nested/up'));
        symlinkSync('up/../..', join(workspace, 'src/nested/out'));
      },
      'symlink-escape',
      '"src/nested/out"',
    ],
    [
      'retargeting a link to escape',
      (workspace) => {
        rmSync(join(workspace, 'src/old-link'));
        symlinkSync('../..', join(workspace, 'src/old-link'));
      },
      'symlink-escape',
      '"src/old-link" -> "../.."',
    ],
    ['a FIFO', (workspace) => run('mkfifo', [join(workspace, 'src/pipe')]), 'special-file', '"src/pipe" is a FIFO'],
    [
      'a submodule (an embedded repository)',
      (workspace) => {
        const nested = join(workspace, 'vendor');
        mkdirSync(nested);
        git(nested, ['init', '-q']);
        writeFileSync(join(nested, 'x'), 'x');
        git(nested, ['add', 'x']);
        git(nested, ['commit', '-qm', 'x']);
      },
      'submodule',
      '"vendor" is an embedded git repository',
    ],
    [
      'a setuid bit on a changed file',
      (workspace) => {
        writeFileSync(join(workspace, 'src/script.sh'), 'changed');
        chmodSync(join(workspace, 'src/script.sh'), 0o4755);
      },
      'setuid',
      'has the setuid bit set',
    ],
    [
      'a sticky/setgid bit on a new file',
      (workspace) => {
        writeFileSync(join(workspace, 'tool'), 'x');
        chmodSync(join(workspace, 'tool'), 0o3755);
      },
      'setuid',
      'setgid/sticky',
    ],
  ];

  test.each(cases)('%s', async (_, change, rule, problem) => {
    const { attempt } = await preparedAs(how);
    change(attempt.workspace);
    const refused = await refusal(attempt);
    expect(refused.rule).toBe(rule);
    expect(refused.message).toContain(problem);
    expect(refused.message).toContain("The attempt's change was refused");
  });

  test('deleting a link so that an untouched baseline link now escapes', async () => {
    const { attempt } = await preparedAs(how, (directory) => {
      mkdirSync(join(directory, 'src/d/e'), { recursive: true });
      writeFileSync(join(directory, 'src/d/e/file'), 'x');
      symlinkSync('d/e', join(directory, 'src/l1'));
      symlinkSync('l1/../../..', join(directory, 'src/l2'));
    });
    rmSync(join(attempt.workspace, 'src/l1'));
    expect(await refusal(attempt)).toMatchObject({ rule: 'symlink-escape', path: 'src/l2', message: expect.stringContaining('points outside the workspace') });
  });

  if (process.getuid?.() === 0) {
    test('a device file', async () => {
      const { attempt } = await preparedAs(how);
      run('mknod', [join(attempt.workspace, 'null'), 'c', '1', '3']);
      expect(await refusal(attempt)).toMatchObject({ rule: 'special-file', message: expect.stringContaining('"null" is a character device') });
    });
  }

  test('the workspace folder swapped for a symlink to / (a layered one, a mount point, cannot even be moved)', async () => {
    const { attempt } = await preparedAs(how);
    if (how === 'layered') {
      expect(() => renameSync(attempt.workspace, `${attempt.workspace}-moved`)).toThrow(/EBUSY/);
      return;
    }
    renameSync(attempt.workspace, `${attempt.workspace}-moved`);
    symlinkSync('/', attempt.workspace);
    expect(await refusal(attempt)).toMatchObject({ rule: 'workspace-replaced', message: expect.stringContaining('was replaced') });
  });

  test('a patch over limits.maxPatchBytes', async () => {
    const { attempt } = await preparedAs(how);
    writeFileSync(join(attempt.workspace, 'big.txt'), 'x'.repeat(5_000));
    expect(await refusal(attempt, { maxPatchBytes: 4_000 })).toMatchObject({
      rule: 'size',
      message: expect.stringContaining('larger than the limit of 4000 bytes'),
    });
    expect((await capturePatch(attempt, { maxPatchBytes: 6_000 })).patch).not.toBeNull();
  });

  test("a patch past the limit by more than the listing's room (read in two gits then): refused as too large, after the checks", async () => {
    const { attempt } = await preparedAs(how);
    // 1.5 MB of patch against a limit of 4,000 bytes passes the one git's room for the listing.
    writeFileSync(join(attempt.workspace, 'huge.txt'), 'y'.repeat(1_500_000));
    expect(await refusal(attempt, { maxPatchBytes: 4_000 })).toMatchObject({ rule: 'size' });
    writeFileSync(join(attempt.workspace, 'key.txt'), 'the key is tok-654321\n');
    expect(await refusal(attempt, { maxPatchBytes: 4_000, secrets: { KEY: 'tok-654321' } })).toMatchObject({ rule: 'secret', path: 'key.txt' });
  });

  test("a patch over the limit within the listing's room is refused after the checks too", async () => {
    const { attempt } = await preparedAs(how);
    writeFileSync(join(attempt.workspace, 'big.txt'), 'x'.repeat(5_000));
    writeFileSync(join(attempt.workspace, 'key.txt'), 'the key is tok-654321\n');
    expect(await refusal(attempt, { maxPatchBytes: 4_000, secrets: { KEY: 'tok-654321' } })).toMatchObject({ rule: 'secret', path: 'key.txt' });
  });

  test('a secret value in a changed file, also a binary one, without quoting it', async () => {
    const { attempt } = await preparedAs(how);
    writeFileSync(join(attempt.workspace, 'token.bin'), Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from('tok-123456'), Buffer.from([0])]));
    const refused = await refusal(attempt, { secrets: { API_TOKEN: 'tok-123456' } });
    expect(refused).toMatchObject({ rule: 'secret', path: 'token.bin', message: expect.stringContaining('holds the value of secret API_TOKEN') });
    expect(refused.message).not.toContain('tok-123456');
  });
});

describe.each(preparations)(
  'capturePatch refuses paths that would not check out on Windows and macOS (pathRules: portable, the default) (%s workspace)',
  (how) => {
    const cases: [string, (workspace: string) => void, string, string][] = [
      ['a backslash and a colon', (workspace) => writeFileSync(join(workspace, 'a\\b:c.txt'), 'x'), 'a\\b:c.txt', 'which Windows refuses in a file name'],
      ['a newline', (workspace) => writeFileSync(join(workspace, 'two\nlines.txt'), 'x'), 'two\nlines.txt', 'which Windows refuses in a file name'],
      [
        'a tab in a folder name',
        (workspace) => {
          mkdirSync(join(workspace, 'tab\there'));
          writeFileSync(join(workspace, 'tab\there/x.txt'), 'x');
        },
        'tab\there/x.txt',
        'which Windows refuses in a file name',
      ],
      ['a name ending in a dot', (workspace) => writeFileSync(join(workspace, 'notes.'), 'x'), 'notes.', 'ending in a dot'],
      ['a name ending in a space', (workspace) => writeFileSync(join(workspace, 'notes '), 'x'), 'notes ', 'ending in a space'],
      ['a reserved device name', (workspace) => writeFileSync(join(workspace, 'nul.txt'), 'x'), 'nul.txt', 'a device name Windows reserves'],
      [
        'bytes that are not UTF-8',
        (workspace) => writeFileSync(Buffer.concat([Buffer.from(`${workspace}/`), Buffer.from([0x66, 0xff, 0x2e, 0x74])]), 'x'),
        'f\ufffd.t',
        'is not valid UTF-8',
      ],
      [
        'Readme.md beside the baseline README.MD',
        (workspace) => writeFileSync(join(workspace, 'Readme.md'), 'x'),
        'Readme.md',
        'differ only in case or Unicode normalisation',
      ],
      [
        'two Unicode normalisations of one name',
        (workspace) => {
          writeFileSync(join(workspace, 'caf\u00e9.txt'), 'x');
          writeFileSync(join(workspace, 'cafe\u0301.txt'), 'y');
        },
        'caf',
        'differ only in case or Unicode normalisation',
      ],
    ];

    test.each(cases)('%s', async (_, change, path, problem) => {
      const { attempt } = await preparedAs(how, (directory) => writeFileSync(join(directory, 'README.MD'), "the user's own\n"));
      change(attempt.workspace);
      const refused = await refusal(attempt);
      expect(refused.rule).toBe('portable-path');
      expect(refused.path).toContain(path);
      expect(refused.message).toContain(problem);
      expect(refused.message).toContain('set pathRules: posix on the item to allow it');
    });

    test("pathRules: posix lets such a change through, and the baseline's own collisions are never held against an attempt", async () => {
      const { attempt } = await preparedAs(how, (directory) => writeFileSync(join(directory, 'README.MD'), "the user's own\n"));
      writeFileSync(join(attempt.workspace, 'a\\b:c.txt'), 'x');
      writeFileSync(join(attempt.workspace, 'Readme.md'), 'x');
      const captured = await capturePatch(attempt, { maxPatchBytes: 100_000, pathRules: 'posix' });
      expect(captured.files.map((file) => file.path).sort()).toEqual(['Readme.md', 'a\\b:c.txt']);

      const { attempt: untouched } = await preparedAs(how, (directory) => {
        writeFileSync(join(directory, 'README.MD'), 'one\n');
        writeFileSync(join(directory, 'readme.md'), 'two\n');
      });
      writeFileSync(join(untouched.workspace, 'README.MD'), 'one, edited\n');
      writeFileSync(join(untouched.workspace, 'fine.txt'), 'new\n');
      expect((await capturePatch(untouched, { maxPatchBytes: 100_000 })).files.map((file) => file.path).sort()).toEqual(['README.MD', 'fine.txt']);
    });
  },
);
