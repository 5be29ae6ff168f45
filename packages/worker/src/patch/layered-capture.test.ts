import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256Digest } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { AttemptWorkspace } from '../git/attempt-workspace.ts';
import { canLayer, layeredAttempt, overlayLayers } from '../testing/overlay-layers.test-support.ts';
import { git, temporaryDirectory } from '../testing/worker.test-support.ts';
import { capturePatch } from './capture-patch.ts';

// The patch a layered workspace gives (read from its overlay's upper layer) must be the patch of
// the same edits made in a plain checkout (`git add --all; git diff --cached --binary -M`), and the
// one an extracted workspace gives: property-tested over sequences of edits of every kind.

/** The user's workspace every case starts from. */
function writeBaseline(directory: string): void {
  const files: Record<string, string | Buffer> = {
    'src/a.txt': Array.from({ length: 30 }, (_, line) => `alpha line ${line}\n`).join(''),
    'src/b.bin': Buffer.from(Array.from({ length: 2048 }, (_, index) => (index * 31) % 256)),
    'src/run.sh': '#!/bin/sh\necho run\n',
    'src/deep/x/y.txt': 'deep\n',
    'src/deep/x/z.txt': 'deeper\n',
    'docs/readme.md': Array.from({ length: 12 }, (_, line) => `docs ${line}\n`).join(''),
    'odd/name with spaces.txt': 'spaces\n',
    'odd/ünïcödé.txt': 'unicode\n',
    'odd/-dash #hash.txt': 'dash\n',
    'dir-to-replace/one.txt': 'one\n',
    'dir-to-replace/two.txt': 'two\n',
    'file-to-replace.txt': 'a file that becomes a folder\n',
  };
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(directory, path)), { recursive: true });
    writeFileSync(join(directory, path), content);
  }
  chmodSync(join(directory, 'src/run.sh'), 0o755);
  symlinkSync('src/a.txt', join(directory, 'link-to-a'));
  symlinkSync('x', join(directory, 'src/deep/link-to-x'));
}

/** Paths edits pick from: the baseline's and new ones. */
const paths = [
  'src/a.txt',
  'src/b.bin',
  'src/run.sh',
  'src/deep/x/y.txt',
  'src/deep',
  'src/deep/x',
  'docs/readme.md',
  'odd/name with spaces.txt',
  'odd/ünïcödé.txt',
  'odd/-dash #hash.txt',
  'link-to-a',
  'src/deep/link-to-x',
  'dir-to-replace',
  'file-to-replace.txt',
  'new/file.txt',
  'src/new file.txt',
  'odd/neu ü.txt',
];

type Edit =
  | { readonly kind: 'write'; readonly path: string; readonly text: string }
  | { readonly kind: 'append'; readonly path: string; readonly text: string }
  | { readonly kind: 'binary'; readonly path: string; readonly bytes: Uint8Array }
  | { readonly kind: 'remove'; readonly path: string }
  | { readonly kind: 'chmod'; readonly path: string; readonly executable: boolean }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'move'; readonly from: string; readonly to: string }
  | { readonly kind: 'change-and-revert'; readonly path: string }
  | { readonly kind: 'folder-to-file'; readonly path: string }
  | { readonly kind: 'file-to-folder'; readonly path: string }
  | { readonly kind: 'recreate-folder'; readonly path: string };

const path = fc.constantFrom(...paths);
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), path, text: fc.string({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('append' as const), path, text: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant('binary' as const), path, bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
  fc.record({ kind: fc.constant('remove' as const), path }),
  fc.record({ kind: fc.constant('chmod' as const), path, executable: fc.boolean() }),
  fc.record({ kind: fc.constant('symlink' as const), path, target: fc.constantFrom('a.txt', 'src/a.txt', 'deep', '../docs/readme.md', 'missing') }),
  fc.record({ kind: fc.constant('move' as const), from: path, to: path }),
  fc.record({ kind: fc.constant('change-and-revert' as const), path }),
  fc.record({ kind: fc.constant('folder-to-file' as const), path: fc.constantFrom('dir-to-replace', 'src/deep/x') }),
  fc.record({ kind: fc.constant('file-to-folder' as const), path: fc.constantFrom('file-to-replace.txt', 'src/a.txt') }),
  fc.record({ kind: fc.constant('recreate-folder' as const), path: fc.constantFrom('src/deep', 'odd', 'dir-to-replace') }),
);

/** Makes one edit in `root`, as an agent would; an edit that cannot be made (its path is gone) is no edit, alike everywhere. */
function makeEdit(root: string, change: Edit): void {
  const at = (relative: string) => join(root, relative);
  const exists = (relative: string) => existsSync(at(relative)) || isLink(at(relative));
  const parentIsFolder = (relative: string) => !relative.includes('/') || (existsSync(at(dirname(relative))) && lstatSync(at(dirname(relative))).isDirectory());
  const isFile = (relative: string) => exists(relative) && lstatSync(at(relative)).isFile();
  const write = (relative: string, content: string | Uint8Array) => {
    if (exists(relative) && !isFile(relative)) rmSync(at(relative), { recursive: true });
    if (!parentIsFolder(relative)) rmSync(at(dirname(relative)), { recursive: true, force: true });
    mkdirSync(dirname(at(relative)), { recursive: true });
    writeFileSync(at(relative), content);
  };
  switch (change.kind) {
    case 'write':
      return write(change.path, change.text);
    case 'append':
      if (isFile(change.path)) writeFileSync(at(change.path), readFileSync(at(change.path)).toString('latin1') + change.text, 'latin1');
      return;
    case 'binary':
      return write(change.path, change.bytes);
    case 'remove':
      return rmSync(at(change.path), { recursive: true, force: true });
    case 'chmod':
      if (isFile(change.path)) chmodSync(at(change.path), change.executable ? 0o755 : 0o644);
      return;
    case 'symlink':
      if (exists(change.path) || !parentIsFolder(change.path)) return;
      mkdirSync(dirname(at(change.path)), { recursive: true });
      return symlinkSync(change.target, at(change.path));
    case 'move':
      // mv, as an agent would: across an overlay's layers a folder is copied, not renamed.
      if (!exists(change.from) || exists(change.to) || change.to.startsWith(`${change.from}/`) || !parentIsFolder(change.to)) return;
      mkdirSync(dirname(at(change.to)), { recursive: true });
      execFileSync('mv', [at(change.from), at(change.to)]);
      return;
    case 'change-and-revert': {
      if (!isFile(change.path)) return;
      const before = readFileSync(at(change.path));
      writeFileSync(at(change.path), 'a change, then undone\n');
      writeFileSync(at(change.path), before);
      return;
    }
    case 'folder-to-file':
      rmSync(at(change.path), { recursive: true, force: true });
      return write(change.path, 'was a folder\n');
    case 'file-to-folder':
      rmSync(at(change.path), { recursive: true, force: true });
      return write(`${change.path}/inside.txt`, 'was a file\n');
    case 'recreate-folder':
      rmSync(at(change.path), { recursive: true, force: true });
      return write(`${change.path}/again.txt`, 'made again\n');
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The patch of `edits` made in a plain git checkout of the baseline: what any user's git says. */
function plainCheckoutPatch(source: string, edits: readonly Edit[]): string {
  const checkout = temporaryDirectory('cairn-plain-checkout-');
  cpSync(source, checkout, { recursive: true, verbatimSymlinks: true });
  git(checkout, ['init', '-q']);
  git(checkout, ['add', '--all']);
  git(checkout, ['commit', '-qm', 'baseline']);
  for (const change of edits) makeEdit(checkout, change);
  git(checkout, ['add', '--all']);
  // Names as bytes, not quoted: the worker's git says them so (core.quotePath=false).
  return git(checkout, [
    '-c',
    'core.quotePath=false',
    'diff',
    '--cached',
    '--binary',
    '-M',
    '--no-color',
    '--no-ext-diff',
    '--no-textconv',
    '--src-prefix=a/',
    '--dst-prefix=b/',
    'HEAD',
  ]);
}

async function patchOf(attempt: AttemptWorkspace, edits: readonly Edit[]): Promise<string> {
  try {
    for (const change of edits) makeEdit(attempt.workspace, change);
    const captured = await capturePatch(attempt, { maxPatchBytes: 10_000_000, pathRules: 'posix' });
    return captured.patch === null ? '' : Buffer.from(captured.patch).toString('utf8');
  } finally {
    await attempt.remove();
  }
}

describe.runIf(canLayer)('a layered workspace captures what a plain checkout would', () => {
  let source: string;
  let snapshot: Uint8Array;
  let layers: ReturnType<typeof overlayLayers>;
  beforeAll(async () => {
    // One tree for every case, as a host's cache would hold it.
    layers = overlayLayers();
    source = temporaryDirectory('cairn-layered-source-');
    writeBaseline(source);
    snapshot = (await snapshotWorkspace(source)).bytes;
  });

  test('property: any sequence of edits gives the plain checkout’s patch, layered and extracted alike', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 8 }), async (edits) => {
        const expected = plainCheckoutPatch(source, edits);
        const layered = await patchOf(await layeredAttempt(layers, snapshot, sha256Digest(snapshot)), edits);
        const extracted = await patchOf(await AttemptWorkspace.prepare({ root: temporaryDirectory(), snapshot }), edits);
        expect(layered).toBe(expected);
        expect(extracted).toBe(expected);
      }),
      { numRuns: 20 },
    );
  });
});
