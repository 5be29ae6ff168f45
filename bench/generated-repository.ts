// A git work tree shaped like a real project, generated from a seed: nested folders of ~20–200
// files, mostly source-like text of varied sizes (log-normal, as real files are), a few binaries,
// a few executable scripts and two symlinks, committed with a fixed author and date so the same
// seed gives the same commit id on every machine.
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { SeededRandom } from './seeded-random.ts';

export interface RepositoryShape {
  /** How many files and symlinks it holds. */
  readonly files: number;
  /** About how many bytes its files hold together. */
  readonly bytes: number;
  readonly seed: number;
}

export interface GeneratedRepository {
  readonly directory: string;
  /** Files and symlinks committed. */
  readonly files: number;
  /** Bytes of the committed files. */
  readonly bytes: number;
  /** The commit id: equal for equal shapes. */
  readonly commit: string;
  /** Paths (relative, `/`-separated) of the plain text files, none a symlink's target: each starts with a comment line naming itself. */
  readonly textFiles: readonly string[];
}

const words =
  'account adapter audit batch buffer cache channel client config context cursor digest event export fetch filter format graph handler index input item job key layer limit list loader log manifest model node option order output page parser patch path plan policy pool queue reader record request result route run schema session signal state store stream task token user value view worker writer'.split(
    ' ',
  );
const folderWords =
  'src lib core utils components services models api tests fixtures handlers config docs internal pkg cmd server client shared hooks store views routes middleware types adapters plugins i18n'.split(
    ' ',
  );
const types = ['number', 'string', 'boolean', 'Item', 'Record<string, unknown>', 'readonly string[]', 'Promise<void>'];
const codeExtensions = ['ts', 'ts', 'ts', 'tsx', 'js', 'py', 'go', 'css'];
const proseExtensions = ['md', 'txt'];
const dataExtensions = ['json', 'yaml'];
const binaryExtensions = ['png', 'woff2', 'bin', 'ico'];

/** Writes the repository into `directory` (made if missing) and commits it. */
export function generateRepository(directory: string, shape: RepositoryShape): GeneratedRepository {
  const random = new SeededRandom(shape.seed);
  mkdirSync(directory, { recursive: true });
  const folders = layOutFolders(random, shape.files - 4);
  const sizes = fileSizes(random, shape.files, shape.bytes);
  // Every file's folder, then which of them are binaries, executables and symlinks, then names.
  const slots: { folder: string; kind: 'text' | 'binary' | 'executable' | 'symlink' }[] = [];
  for (const folder of folders) for (let index = 0; index < folder.files; index++) slots.push({ folder: folder.path, kind: 'text' });
  const mark = (count: number, kind: 'binary' | 'executable' | 'symlink') => {
    while (count > 0) {
      const slot = random.pick(slots);
      if (slot.kind !== 'text') continue;
      slot.kind = kind;
      count--;
    }
  };
  mark(Math.max(2, Math.round(shape.files * 0.01)), 'binary');
  mark(Math.max(2, Math.round(shape.files * 0.005)), 'executable');
  mark(2, 'symlink');
  const files: { path: string; kind: 'text' | 'binary' | 'executable' | 'symlink' }[] = ['README.md', 'package.json', 'tsconfig.json', 'LICENSE'].map(
    (path) => ({ path, kind: 'text' }),
  );
  const taken = new Map<string, Set<string>>();
  for (const slot of slots) {
    const names = taken.get(slot.folder) ?? new Set<string>();
    taken.set(slot.folder, names);
    const extension =
      slot.kind === 'binary'
        ? random.pick(binaryExtensions)
        : slot.kind === 'executable'
          ? 'sh'
          : random.next() < 0.75
            ? random.pick(codeExtensions)
            : random.next() < 0.5
              ? random.pick(proseExtensions)
              : random.pick(dataExtensions);
    files.push({ path: `${slot.folder}/${uniqueName(names, `${random.pick(words)}-${random.pick(words)}`, extension)}`, kind: slot.kind });
  }

  let bytes = 0;
  for (const [index, { path, kind }] of files.entries()) {
    if (kind === 'symlink') continue;
    const file = join(directory, path);
    mkdirSync(dirname(file), { recursive: true });
    const size = sizes[index]!;
    const content =
      kind === 'binary'
        ? random.bytes(Math.min(size, 262_144))
        : kind === 'executable'
          ? scriptText(random, path, size)
          : /\.(md|txt)$|^LICENSE$/.test(path)
            ? proseText(random, path, size)
            : codeText(random, path, size);
    writeFileSync(file, content, kind === 'executable' ? { mode: 0o755 } : {});
    bytes += Buffer.byteLength(content);
  }
  // The symlinks, once their targets exist: the first to a text file, the second to a folder, both
  // relative and inside the repository.
  const plain = files.filter((file) => file.kind === 'text').map((file) => file.path);
  const targets: string[] = [];
  for (const { path } of files.filter((file) => file.kind === 'symlink')) {
    const target = targets.length === 0 ? random.pick(plain) : random.pick(folders.filter((folder) => folder.path !== dirname(path))).path;
    targets.push(target);
    const file = join(directory, path);
    mkdirSync(dirname(file), { recursive: true });
    symlinkSync(relative(dirname(file), join(directory, target)), file);
  }

  const env = {
    ...process.env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Cairn Bench',
    GIT_AUTHOR_EMAIL: 'bench@cairn.invalid',
    GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
    GIT_COMMITTER_NAME: 'Cairn Bench',
    GIT_COMMITTER_EMAIL: 'bench@cairn.invalid',
    GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
  };
  const git = (...args: string[]) => execFileSync('git', ['-C', directory, ...args], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).trim();
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', `generated: ${shape.files} files, seed ${shape.seed}`);
  const committed = Number(git('ls-files', '-z').split('\0').filter(Boolean).length);
  if (committed !== shape.files) throw new Error(`the generated repository committed ${committed} files, not ${shape.files}`);
  return {
    directory,
    files: committed,
    bytes,
    commit: git('rev-parse', 'HEAD'),
    textFiles: plain.filter((path) => !targets.some((target) => path === target || path.startsWith(`${target}/`))),
  };
}

/**
 * Folders holding `files` files between them, 20–200 each (fewer in a small repository, so it has a
 * few), nested up to four levels under a handful of top-level ones.
 */
function layOutFolders(random: SeededRandom, files: number): { path: string; files: number }[] {
  const folders: { path: string; files: number; depth: number }[] = [];
  const taken = new Set<string>();
  const most = Math.min(200, Math.max(20, Math.floor(files / 4)));
  let remaining = files;
  while (remaining > 0) {
    const parents = folders.filter((folder) => folder.depth < 4);
    const parent = folders.length < 3 || random.next() < 0.1 ? undefined : random.pick(parents);
    const path = uniqueName(taken, parent ? `${parent.path}/${random.pick(folderWords)}` : random.pick(folderWords), '');
    const count = Math.min(remaining, random.integer(20, most));
    folders.push({ path, files: count, depth: (parent?.depth ?? 0) + 1 });
    remaining -= count;
  }
  return folders;
}

/** Log-normal sizes (a few large files, many small ones) scaled to add up to about `bytes`. */
function fileSizes(random: SeededRandom, count: number, bytes: number): number[] {
  const weights = Array.from({ length: count }, () => Math.exp(random.normal()));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  return weights.map((weight) => Math.max(64, Math.round((weight / total) * bytes)));
}

function uniqueName(taken: Set<string>, base: string, extension: string): string {
  const suffix = extension ? `.${extension}` : '';
  let name = `${base}${suffix}`;
  for (let index = 2; taken.has(name); index++) name = `${base}-${index}${suffix}`;
  taken.add(name);
  return name;
}

function identifier(random: SeededRandom): string {
  const second = random.pick(words);
  return `${random.pick(words)}${second[0]!.toUpperCase()}${second.slice(1)}`;
}

function codeText(random: SeededRandom, path: string, size: number): string {
  const lines = [`// ${path}`];
  let length = lines[0]!.length + 1;
  while (length < size) {
    const line = random.pick([
      () => `import { ${identifier(random)} } from './${random.pick(words)}';`,
      () => `export function ${identifier(random)}(${random.pick(words)}: ${random.pick(types)}): ${random.pick(types)} {`,
      () => `  const ${identifier(random)} = ${random.pick(words)}.${identifier(random)}(${random.integer(0, 9_999)});`,
      () => `  if (${random.pick(words)} > ${random.integer(0, 999)}) return ${identifier(random)};`,
      () => `  return ${random.pick(words)} + ${random.integer(0, 99)};`,
      () => '}',
      () => '',
      () => `// ${random.pick(words)} ${random.pick(words)} ${random.pick(words)} before the ${random.pick(words)}`,
    ])();
    lines.push(line);
    length += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

function proseText(random: SeededRandom, path: string, size: number): string {
  const lines = [`# ${path}`];
  let length = lines[0]!.length + 1;
  while (length < size) {
    const line = Array.from({ length: random.integer(6, 14) }, () => random.pick(words)).join(' ');
    lines.push(`${line[0]!.toUpperCase()}${line.slice(1)}.`);
    length += line.length + 2;
  }
  return `${lines.join('\n')}\n`;
}

function scriptText(random: SeededRandom, path: string, size: number): string {
  const lines = ['#!/bin/sh', `# ${path}`, 'set -eu'];
  let length = 30 + path.length;
  while (length < size) {
    const line = `echo "${random.pick(words)} ${random.pick(words)} ${random.integer(0, 999)}"`;
    lines.push(line);
    length += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}
