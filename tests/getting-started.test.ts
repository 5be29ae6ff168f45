// The getting-started walkthrough runs exactly as written: its shell block is run by bash, line by
// line in order, in a fresh home, with the checkout's `cairn` (the shim setup writes) on PATH.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { freePort } from './support/free-port.ts';
import { repositoryRoot } from './support/workspace.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** The shell block of a section of a page: the first ```sh block after its heading. */
function shellBlock(page: string, heading: string): string {
  const text = readFileSync(join(repositoryRoot, page), 'utf8');
  const section = text.slice(text.indexOf(`\n${heading}\n`));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error(`${page} has no sh block under "${heading}"`);
  return block[1]!;
}

test('docs/getting-started.md: "Run a server and submit work" runs as written and ends with a verified bundle', { timeout: 120_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'cairn-getting-started-'));
  const script = shellBlock('docs/getting-started.md', '## Run a server and submit work');
  const env: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: [join(repositoryRoot, '.tools', 'bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    LANG: 'C.UTF-8',
    // The docs' port (7600) may be taken by a test beside this one: serve and the client commands read this override.
    CAIRN_PORT: String(await freePort()),
  };
  // A process group of its own, so the server the walkthrough starts in the background is stopped
  // with it whatever happens.
  const shell = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: home, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => {
    try {
      process.kill(-shell.pid!, 'SIGKILL');
    } catch {
      // The group has ended already.
    }
    chmodSync(home, 0o700);
    rmSync(home, { recursive: true, force: true });
  });
  let stdout = '';
  let stderr = '';
  shell.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const status = await new Promise<number | null>((resolve) => shell.on('close', resolve));
  expect(status, `${stdout}\n${stderr}\n${readFileSync(join(home, 'cairn', 'serve.log'), { encoding: 'utf8', flag: 'a+' })}`).toBe(0);
  expect(stdout).toMatch(/run r-\S+ \(first-run\): succeeded/);
  expect(stdout).toContain('Notes from Cairn');
  expect(stdout).toContain('valid: true');
  expect(stdout).toMatch(/checkpoint-signature .*a trusted key/);
});
