import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repositoryRoot } from './workspace.ts';

/**
 * Folders whose Markdown is not documentation a reader follows today: history (ADRs record what
 * was decided when, changesets what changed), build outputs, dependencies and generated files.
 */
const notDocumentation = new Set(['node_modules', 'dist', 'coverage', 'adr', 'test-artifacts', 'tmp']);

/**
 * Every Markdown page of the repository a reader follows as written: README.md, docs/, each
 * package's and app's README, deploy/'s; not the ADRs, changesets or changelogs (history), and
 * nothing under a dot folder (.changeset, .tools, generated test folders).
 */
export function documentationPages(): string[] {
  const walk = (directory: string): string[] =>
    readdirSync(directory)
      .sort()
      .flatMap((name) => {
        if (name.startsWith('.') || notDocumentation.has(name)) return [];
        const path = join(directory, name);
        if (statSync(path).isDirectory()) return walk(path);
        return name.endsWith('.md') && name !== 'CHANGELOG.md' ? [path] : [];
      });
  return walk(repositoryRoot);
}

/** A page's path from the repository root, as a failure names it. */
export const pageName = (page: string): string => relative(repositoryRoot, page);

/** One line of a page: its number (from 1), its text, and the fenced block it is in, if any. */
export interface PageLine {
  readonly number: number;
  readonly text: string;
  /** The fence's info string (`sh`, `yaml`, `` for a bare fence) when the line is inside a fenced block. */
  readonly fence?: string;
}

/** A page's lines, each marked with the fenced code block it is in (the fence lines themselves are left out). */
export function pageLines(page: string): PageLine[] {
  const lines: PageLine[] = [];
  let fence: string | undefined;
  readFileSync(page, 'utf8')
    .split('\n')
    .forEach((text, index) => {
      const opening = /^\s*(```+|~~~+)\s*([^\s`]*)/.exec(text);
      if (opening) {
        fence = fence === undefined ? opening[2]! : undefined;
        return;
      }
      lines.push({ number: index + 1, text, ...(fence === undefined ? {} : { fence }) });
    });
  return lines;
}

/** The inline code spans of a line of prose (`like this`), each with its column. */
export function inlineCode(text: string): { code: string; column: number }[] {
  return [...text.matchAll(/(`+)([^`]+?)\1(?!`)/g)].map((match) => ({ code: match[2]!.trim(), column: match.index + 1 }));
}
