// The dashboard as a user gets it: the built `cairn serve` (rebuild first: `pnpm --filter
// @cairn/server build`, which copies the built dashboard into dist/dashboard) says where the
// dashboard is, and answers the page and its script from its own dist, not from the workspace.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { builtCli, useBuiltServer } from './built-server.test-support.ts';

const { initialised, childEnv, cleanups } = useBuiltServer();

test('the built server prints the dashboard address and serves the dashboard it ships in dist/dashboard', { timeout: 60_000 }, async () => {
  expect(existsSync(join(dirname(builtCli), 'dashboard', 'index.html'))).toBe(true);
  const { directory } = await initialised();
  const server = spawn(process.execPath, [builtCli, 'serve'], { cwd: directory, env: childEnv({ CAIRN_PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => void server.kill('SIGKILL'));
  const dashboard = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    server.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const announced = /^cairn serving (http:\/\/\S+) \(data in .*; dashboard at (\S+)\); Ctrl-C stops$/m.exec(stdout);
      if (announced) {
        expect(announced[2]).toBe(`${announced[1]}/dashboard/`);
        resolve(announced[2]!);
      }
    });
    server.on('exit', (code) => reject(new Error(`cairn serve exited (${code}) before listening`)));
  });
  const page = await fetch(dashboard);
  expect(page.status).toBe(200);
  const script = /<script[^>]+src="([^"]+)"/.exec(await page.text())?.[1];
  expect(script).toMatch(/^\/dashboard\/assets\//);
  const asset = await fetch(new URL(script!, dashboard));
  expect(asset.status).toBe(200);
  expect(existsSync(join(dirname(builtCli), script!.replace(/^\//, '')))).toBe(true);
});
