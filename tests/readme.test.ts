// The README's promises that CI and newcomers rely on, and links that must not rot.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

const readme = readFileSync(join(repositoryRoot, 'README.md'), 'utf8');

function quickStartCommands(): string[] {
  const section = readme.split(/^## /m).find((part) => /^quick start\b/i.test(part));
  if (!section) return [];
  const block = section.match(/```[a-z]*\n([\s\S]*?)```/);
  return (block?.[1] ?? '')
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);
}

describe('README quick start', () => {
  test('holds exactly two commands in one fenced block: the demo, then the tests', () => {
    const commands = quickStartCommands();
    expect(commands).toHaveLength(2);
    expect(commands[0]).toMatch(/demo/);
    expect(commands[1]).toMatch(/test/);
  });

  test('.ci/run runs the README test command', () => {
    const ci = readFileSync(join(repositoryRoot, '.ci/run'), 'utf8');
    const testCommand = quickStartCommands()[1]!;
    expect(ci).toContain(testCommand);
    expect(ci).not.toMatch(/\|\|\s*true/);
  });

  test('both commands name scripts that exist', () => {
    for (const command of quickStartCommands()) {
      const script = command.split(/\s+/).find((word) => word.endsWith('.sh'));
      expect(script && existsSync(join(repositoryRoot, script)), command).toBe(true);
    }
  });
});

function markdownFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (name === 'node_modules' || name.startsWith('.') || name === 'dist') return [];
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

test('every relative link in the documentation points at a file that exists', () => {
  const files = [join(repositoryRoot, 'README.md'), ...markdownFiles(join(repositoryRoot, 'docs')), ...markdownFiles(join(repositoryRoot, 'adr'))];
  const broken: string[] = [];
  for (const file of files) {
    // Code (fenced blocks and inline spans) holds no links, only text that may look like one.
    const text = readFileSync(file, 'utf8')
      .replace(/```[\s\S]*?```/g, '')
      .replace(/`[^`\n]*`/g, '');
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!.split('#')[0]!;
      if (!target || /^[a-z]+:/i.test(target)) continue;
      if (!existsSync(join(dirname(file), target))) broken.push(`${relative(repositoryRoot, file)} → ${target}`);
    }
  }
  expect(broken).toEqual([]);
});
