// A program that depends on @cairn/client alone snapshots a folder, submits a run over it and
// reads what the run saw: the snapshot code is reachable without @cairn/worker (issue 12).
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildHttpApi, composeServer, initServer, loadServerConfig } from '@cairn/server';
import { afterEach, expect, test } from 'vitest';
import { consumerProject } from './support/consumer-project.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server as `cairn init` + `cairn serve` make it, on a loopback port. */
async function startServer(): Promise<{ base: string; token: string }> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-server-'));
  // Sandboxes start as their own uids and must pass through to their workspaces.
  chmodSync(directory, 0o711);
  const { operatorToken } = await initServer(directory);
  const composition = await composeServer(loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } }));
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: 'tokens' });
  composition.engine.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await app.close();
    await composition.close();
    rmSync(directory, { recursive: true, force: true });
  });
  return { base, token: operatorToken };
}

const consumerProgram = `
import { createCairnClient } from '@cairn/client';

const [baseUrl, token, folder] = process.argv.slice(2);
const cairn = createCairnClient({ baseUrl, token });
const snapshot = await cairn.uploadWorkspace(folder);
const { runId } = await cairn.submit({
  version: 1,
  name: 'consumer',
  workspace: { snapshot: snapshot.digest },
  items: [{ id: 'read', runtime: { kind: 'command', argv: ['sh', '-c', 'cat notes/hello.txt > seen.txt && ls -R docs >> seen.txt'] } }],
});
const run = await cairn.waitForRun(runId);
const patch = run.state === 'succeeded' ? await cairn.patch(runId, 'read') : '';

// In one call: a YAML spec and the folder it runs over.
const yaml = 'version: 1\\nname: consumer-yaml\\nitems:\\n  - id: read\\n    runtime: { kind: command, argv: [cat, notes/hello.txt] }\\n';
const inOneCall = await cairn.submit(yaml, { workspace: folder });
const second = await cairn.waitForRun(inOneCall.runId);
console.log(JSON.stringify({ entries: snapshot.entries, digest: snapshot.digest, state: run.state, patch, secondState: second.state }));
`;

test(
  'a consumer that depends only on @cairn/client uploads a folder with uploadWorkspace (or submit with workspace) and its run sees the files',
  { timeout: 120_000 },
  async () => {
    const consumer = consumerProject(['@cairn/client']);
    cleanups.push(() => consumer.remove());
    expect(consumer.installed).not.toContain('@cairn/worker');
    writeFileSync(
      join(consumer.directory, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { '@cairn/client': '*' } }),
    );
    writeFileSync(join(consumer.directory, 'consumer.mjs'), consumerProgram);

    const folder = mkdtempSync(join(tmpdir(), 'cairn-consumer-folder-'));
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
    chmodSync(folder, 0o755);
    mkdirSync(join(folder, 'notes'));
    mkdirSync(join(folder, 'docs', 'guide'), { recursive: true });
    writeFileSync(join(folder, 'notes', 'hello.txt'), 'hello from a consumer\n');
    writeFileSync(join(folder, 'docs', 'guide', 'index.md'), '# Guide\n');

    const { base, token } = await startServer();
    const { stdout } = await promisify(execFile)(process.execPath, ['consumer.mjs', base, token, folder], { cwd: consumer.directory });
    const result = JSON.parse(stdout) as { entries: number; digest: string; state: string; patch: string; secondState: string };
    expect(result.entries).toBe(2);
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.state).toBe('succeeded');
    expect(result.patch).toContain('+++ b/seen.txt');
    expect(result.patch).toContain('+hello from a consumer');
    expect(result.patch).toContain('+index.md');
    expect(result.secondState).toBe('succeeded');
  },
);
