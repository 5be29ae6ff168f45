// Every TypeScript block of the documentation (README, docs/, the package READMEs) compiles, as a consumer of the
// published packages would compile it (their built types, no source condition). Each block is a
// module of its own; a block fenced as ```ts title="name.ts" is written under that name, so a later
// block of the same page can import it (`./name.ts`), as the reader's own files would.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { expect, test } from 'vitest';
import { documentationPages } from './support/documentation-pages.ts';
import { repositoryRoot } from './support/workspace.ts';

interface CodeBlock {
  readonly page: string;
  readonly line: number;
  readonly fileName: string;
  readonly code: string;
}

/** The TypeScript blocks of a page, each with the file name it is written under. */
export function typeScriptBlocks(page: string): CodeBlock[] {
  const text = readFileSync(page, 'utf8');
  const blocks: CodeBlock[] = [];
  const fence = /^```(?:ts|typescript)\b([^\n]*)\n([\s\S]*?)^```/gm;
  for (const match of text.matchAll(fence)) {
    const line = text.slice(0, match.index).split('\n').length;
    const title = /title="([^"]+)"/.exec(match[1]!)?.[1];
    blocks.push({ page: relative(repositoryRoot, page), line, fileName: title ?? `block-at-line-${line}.ts`, code: match[2]! });
  }
  return blocks;
}

// One TypeScript program over every block: about ten seconds on a quiet machine, more on a shared one.
test('every TypeScript block in the documentation compiles against the published packages', { timeout: 120_000 }, () => {
  const root = join(repositoryRoot, 'tests', '.docs-code');
  rmSync(root, { recursive: true, force: true });
  const files = new Map<string, CodeBlock>();
  for (const page of documentationPages()) {
    for (const block of typeScriptBlocks(page)) {
      const directory = join(root, block.page.replaceAll('/', '__').replace(/\.md$/, ''));
      mkdirSync(directory, { recursive: true });
      const file = join(directory, block.fileName);
      writeFileSync(file, block.code);
      files.set(file, block);
    }
  }
  expect(files.size).toBeGreaterThan(20);
  const program = ts.createProgram([...files.keys()], {
    target: ts.ScriptTarget.ES2024,
    lib: ['lib.es2024.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
  });
  const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const block = diagnostic.file ? files.get(diagnostic.file.fileName) : undefined;
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (!block || diagnostic.start === undefined) return `${diagnostic.file?.fileName ?? '(no file)'}: ${message}`;
    const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
    return `${block.page}:${block.line + 1 + line}: TS${diagnostic.code} ${message}`;
  });
  expect(problems).toEqual([]);
});
