// The dashboard as a user gets it: the built `cairn serve` (rebuild first: `pnpm --filter
// @cairn/server build`, which copies the built dashboard into dist/dashboard) answers the page and
// its script from its own dist, not from the workspace.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { builtCli, useBuiltServer } from './built-server.test-support.ts';

const { initialised, serve } = useBuiltServer();

test('the built server serves the dashboard it ships in dist/dashboard', { timeout: 60_000 }, async () => {
  expect(existsSync(join(dirname(builtCli), 'dashboard', 'index.html'))).toBe(true);
  const { directory } = await initialised();
  const { base } = await serve(directory);
  const page = await fetch(`${base}/dashboard/`);
  expect(page.status).toBe(200);
  const script = /<script[^>]+src="([^"]+)"/.exec(await page.text())?.[1];
  expect(script).toMatch(/^\/dashboard\/assets\//);
  const asset = await fetch(`${base}${script}`);
  expect(asset.status).toBe(200);
  expect(existsSync(join(dirname(builtCli), script!.replace(/^\//, '')))).toBe(true);
  expect(await (await fetch(`${base}/dashboard/server.json`)).json()).toEqual({ auth: 'tokens' });
});
