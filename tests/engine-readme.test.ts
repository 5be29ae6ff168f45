// packages/engine/README.md's embedding example ("## Use") runs as written: in a project outside the
// repository that installed @cairn/engine and @cairn/local from their packed tarballs, as root, with
// the local executor's bubblewrap sandboxes (each item as a uid of its own), and its run succeeds.
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, test } from 'vitest';
import { consumerProject } from './support/consumer-project.ts';
import { repositoryRoot } from './support/workspace.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The first TypeScript block under a heading of a page. */
function typeScriptBlock(page: string, heading: string): string {
  const text = readFileSync(join(repositoryRoot, page), 'utf8');
  const section = text.slice(text.indexOf(`\n${heading}\n`));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error(`${page} has no ts block under "${heading}"`);
  return block[1]!;
}

// The item succeeds only where it ran as an unprivileged uid: inside a sandbox, not in this process.
const runSpec = `version: 1
name: embedded
items:
  - id: hello
    runtime: { kind: command, argv: [sh, -c, 'test "$(id -u)" -ne 0 && echo "hello from uid $(id -u)" > hello.txt'] }
`;

test(
  'packages/engine/README.md: the embedding example runs as written, as root, its items in bubblewrap sandboxes, and its run succeeds',
  { timeout: 180_000 },
  async () => {
    expect(process.getuid?.(), 'the example runs sandboxes, which need root (as CI runs)').toBe(0);
    const consumer = consumerProject(['@cairn/engine', '@cairn/local']);
    cleanups.push(() => consumer.remove());
    // A project folder as a user's is: others may pass through it (mkdtemp makes it 0700).
    chmodSync(consumer.directory, 0o755);
    writeFileSync(join(consumer.directory, 'package.json'), JSON.stringify({ name: 'embedding', private: true, type: 'module' }));
    writeFileSync(join(consumer.directory, 'embed.ts'), typeScriptBlock('packages/engine/README.md', '## Use'));
    writeFileSync(join(consumer.directory, 'run.yaml'), runSpec);

    // Node runs the TypeScript as written (its type annotations stripped).
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['embed.ts'], { cwd: consumer.directory, timeout: 150_000 }).catch(
      (error: { stdout?: string; stderr?: string; message: string }) => ({ stdout: error.stdout ?? '', stderr: `${error.message}\n${error.stderr ?? ''}` }),
    );
    const lastLine = stdout.trim().split('\n').at(-1) ?? '';
    expect(lastLine, `${stdout}\n${stderr}`).toMatch(/^succeeded \d+$/);
    expect(statSync(join(consumer.directory, 'cairn-data')).mode & 0o777).toBe(0o711);
    expect(statSync(join(consumer.directory, 'cairn-data', 'keys')).mode & 0o777).toBe(0o700);
  },
);
