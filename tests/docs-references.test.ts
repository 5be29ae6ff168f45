// What the documentation names in the repository exists: every relative link's target, every
// repository path written in code (`packages/kms/src/…`, or `src/…` in a package's README), and
// every server config file name, which must be one the server's loader reads. Each failure names
// the page and line, so a renamed file or a misremembered name cannot stay in the docs.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import ts from 'typescript';
import { expect, test } from 'vitest';
import { documentationPages, inlineCode, pageLines, pageName } from './support/documentation-pages.ts';
import { repositoryRoot } from './support/workspace.ts';

const pages = documentationPages();

/**
 * The config file names the server's loader reads (`configFileNames`), read from its source with
 * the TypeScript parser: importing `@cairn/server` would cost this file seconds of module loading.
 */
function configFileNamesOfTheLoader(): string[] {
  const file = join(repositoryRoot, 'apps/server/src/config/config-file-names.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    for (const declaration of statement.declarationList.declarations) {
      if (declaration.name.getText(source) !== 'configFileNames' || !declaration.initializer) continue;
      let value: ts.Expression = declaration.initializer;
      while (ts.isAsExpression(value) || ts.isSatisfiesExpression(value) || ts.isParenthesizedExpression(value)) value = value.expression;
      if (ts.isArrayLiteralExpression(value) && value.elements.every(ts.isStringLiteral))
        return value.elements.map((element) => (element as ts.StringLiteral).text);
    }
  }
  throw new Error(`${file} no longer declares configFileNames as an array of string literals: read the names another way here`);
}

test('the pages checked are the documentation, history left out', () => {
  const names = pages.map(pageName);
  expect(names).toContain('README.md');
  expect(names).toContain('docs/operations/kms.md');
  expect(names).toContain('packages/kms/README.md');
  expect(names).toContain('apps/server/README.md');
  expect(names.some((name) => name.startsWith('adr/') || name.startsWith('.changeset/'))).toBe(false);
});

test('every relative link in the documentation (and in the ADRs) points at a file that exists', () => {
  // The ADRs are history, so their names and paths are left as they were; their links still lead somewhere.
  const decisions = readdirSync(join(repositoryRoot, 'adr'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(repositoryRoot, 'adr', name));
  const broken: string[] = [];
  for (const page of [...pages, ...decisions]) {
    for (const line of pageLines(page)) {
      // Code (fenced blocks and inline spans) holds no links, only text that may look like one.
      if (line.fence !== undefined) continue;
      const prose = line.text.replace(/(`+)[^`]+?\1(?!`)/g, '');
      for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = decodeURI(match[1]!.split('#')[0]!);
        if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        if (!existsSync(join(dirname(page), target))) broken.push(`${pageName(page)}:${line.number}: links to ${match[1]}, which does not exist`);
      }
    }
  }
  expect(broken).toEqual([]);
});

/**
 * The files and folders git tracks (and those added beside them and not ignored), as paths from
 * the repository root: a written path "looks like the repository's" when its first folder is one
 * of these, at the root or in the folder of the page's package.
 */
const repositoryFiles = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repositoryRoot, encoding: 'utf8' })
  .split('\n')
  .filter(Boolean);
const repositoryFolders = new Set(
  repositoryFiles.flatMap((file) =>
    file
      .split('/')
      .slice(0, -1)
      .map((_, index, parts) => parts.slice(0, index + 1).join('/')),
  ),
);

/**
 * The folders a path written on `page` may be relative to: the root and, on a page inside a
 * package (a folder with a package.json: `packages/kms`, `deploy/aws`), that package's folder.
 */
function baseFolders(page: string): string[] {
  for (let folder = relative(repositoryRoot, dirname(page)); folder !== '.' && folder !== ''; folder = dirname(folder)) {
    if (existsSync(join(repositoryRoot, folder, 'package.json'))) return [folder, ''];
  }
  return [''];
}

/** The words of a code span that may be paths: split at spaces, quotes and `=`, stripped of punctuation around them. */
function pathLikeWords(code: string): string[] {
  return code
    .split(/[\s"'=(),;]+/)
    .map((word) => word.replace(/[.:]+$/, '').replace(/:\d+(?::\d+)?$/, ''))
    .filter((word) => word.includes('/') && !word.includes('://') && !/[<>*{}…$@~|]|\.\.\./.test(word) && !word.startsWith('/') && !word.startsWith('-'));
}

/**
 * Whether `word`, written on `page`, names a file of this repository (its first folder is one of
 * the root's, or of the page's package), and whether that file exists. A number standing for a
 * numbered file (`adr/0005`) names the file that starts with it (`adr/0005-changeset-bump-policy.md`).
 */
function repositoryPath(page: string, word: string): { isRepositoryPath: boolean; exists: boolean } {
  const path = word.replace(/^\.\//, '').replace(/\/+$/, '');
  const firstFolder = path.split('/')[0]!;
  let isRepositoryPath = false;
  for (const base of baseFolders(page)) {
    const full = base === '' ? path : `${base}/${path}`;
    if (!repositoryFolders.has(base === '' ? firstFolder : `${base}/${firstFolder}`)) continue;
    isRepositoryPath = true;
    if (existsSync(join(repositoryRoot, full)) || (/\/\d+$/.test(full) && repositoryFiles.some((file) => file.startsWith(`${full}-`)))) {
      return { isRepositoryPath, exists: true };
    }
  }
  return { isRepositoryPath, exists: false };
}

test('every repository path the documentation writes in code exists', () => {
  const missing: string[] = [];
  let checked = 0;
  for (const page of pages) {
    for (const line of pageLines(page)) {
      const spans = line.fence === undefined ? inlineCode(line.text).map((span) => span.code) : [line.text];
      for (const word of spans.flatMap(pathLikeWords)) {
        const found = repositoryPath(page, word);
        if (!found.isRepositoryPath) continue;
        checked++;
        if (!found.exists) missing.push(`${pageName(page)}:${line.number}: \`${word}\` is not a file or folder of the repository (nor of the page's package)`);
      }
    }
  }
  expect(missing).toEqual([]);
  // The check is not vacuous: the pages write dozens of repository paths.
  expect(checked).toBeGreaterThan(50);
});

/** A server config file name as a page may write it: `cairn.yaml`, `cairn.config.json`, `cairn.prod.yml`, … */
const configFileNameShape = /(?<![\w/.-])cairn(?:\.[\w-]+)*\.(?:ya?ml|json|[cm]?[jt]s|toml)\b/gi;

test('every server config file name in the documentation is one the server reads', () => {
  const configFileNames = configFileNamesOfTheLoader();
  expect(configFileNames).toContain('cairn.config.yaml');
  const read = new Set(configFileNames);
  // A file of the repository named like one (deploy/aws's `cairn.template.json`) is that file, not a config.
  const repositoryFileNames = new Set(repositoryFiles.map((file) => basename(file)));
  const wrong: string[] = [];
  for (const page of pages) {
    for (const line of pageLines(page)) {
      for (const match of line.text.matchAll(configFileNameShape)) {
        if (!read.has(match[0]) && !repositoryFileNames.has(match[0])) {
          wrong.push(`${pageName(page)}:${line.number}: ${match[0]} is not a config file the server reads (it reads ${configFileNames.join(', ')})`);
        }
      }
    }
  }
  expect(wrong).toEqual([]);
});
