import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/**
 * A guide of `docs/guides/` whose example a test runs as written: its fenced blocks by language,
 * the run spec it names `name` (its yaml block with that `name:` line), and its workspace — the lines of its first shell block before the first `cairn` command, run by
 * bash in a fresh folder (removed after each test), the folder they make (`folder`) returned.
 */
export function guideExample(file: string, folder: string) {
  const guide = readFileSync(fileURLToPath(new URL(`../../../../docs/guides/${file}`, import.meta.url)), 'utf8');
  const blocks = (language: string) => [...guide.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\``, 'gm'))].map((match) => match[1]!);
  const made: string[] = [];
  afterEach(() => {
    for (const path of made.splice(0)) rmSync(path, { recursive: true, force: true });
  });
  const workspace = (): string => {
    const root = mkdtempSync(join(tmpdir(), 'cairn-guide-'));
    made.push(root);
    const script = blocks('sh')[0]!.split('\n');
    const setup = script
      .slice(
        0,
        script.findIndex((line) => line.includes('cairn ')),
      )
      .join('\n');
    execFileSync('bash', ['-euo', 'pipefail', '-c', setup], { cwd: root });
    return join(root, folder);
  };
  const spec = (name: string): string => {
    const found = blocks('yaml').find((block) => block.includes(`\nname: ${name}\n`));
    if (found === undefined) throw new Error(`docs/guides/${file} has no yaml block with "name: ${name}"`);
    return found;
  };
  return { blocks, spec, workspace };
}
