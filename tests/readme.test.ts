// The README's promises that CI and newcomers rely on (its links are checked with every page's, in
// docs-references.test.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
