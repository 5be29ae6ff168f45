// The Runners page in Debian's Chromium against a real server with runners enabled: a runner that
// polled shows with its token's name, labels, state, slots and last poll; Drain and Resume change
// what the server's book says; a token without admin gets no link and a page that says why; a
// server without runners says how to enable them.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

type Api = (path: string, init?: RequestInit) => Promise<Response>;

const runnerVersion = (JSON.parse(readFileSync(new URL('../../../packages/runner/package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function tokenWith(api: Api, name: string, scopes: string[]): Promise<string> {
  const created = await api('/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, scopes }) });
  expect(created.status).toBe(201);
  return ((await created.json()) as { token: string }).token;
}

/** One poll of a runner (answered at once: it waits for nothing), as `cairn runner` sends it. */
async function poll(base: string, token: string, labels: string[], slots: number): Promise<void> {
  const answer = await fetch(`${base}/v1/runner/poll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ version: runnerVersion, labels, slots, held: [], waitMs: 0 }),
  });
  expect(answer.status).toBe(200);
}

test('a runner that polled shows with its labels, state and slots; Drain and Resume act on the server', { timeout: 60_000 }, async () => {
  const { base, api, operatorToken } = await start('tokens', { config: { runners: { enabled: true, leaseSeconds: 30 } } });
  const runnerToken = await tokenWith(api, 'gpu-box-1', ['runners:run']);
  await poll(base, runnerToken, ['gpu', 'pool=build'], 4);

  const page = await signedIn(base, operatorToken);
  await page.getByRole('link', { name: 'Runners' }).click();
  await expect.poll(() => page.url()).toMatch(/#\/runners$/);
  const row = page.locator('tr[data-runner]');
  await row.waitFor();
  expect(await row.count()).toBe(1);
  expect(await row.locator('th').innerText()).toContain('gpu-box-1');
  expect(await row.locator('th').innerText()).toContain(`version ${runnerVersion}`);
  expect(await row.locator('td').nth(0).innerText()).toBe('gpu pool=build');
  expect(await row.locator('td.runner-state').innerText()).toBe('connected');
  expect(await row.locator('td').nth(2).innerText()).toBe('4');
  expect(await row.locator('td').nth(3).innerText()).toBe('0');
  await screenshot(page, 'runners', { docs: 'dashboard-runners.png' });

  await row.getByRole('button', { name: 'Drain' }).click();
  await expect.poll(() => row.locator('td.runner-state').innerText()).toBe('connected draining');
  // The server's book, as `cairn runners` reads it: its one runner drained.
  const listed = async () => (await (await api('/v1/runners')).json()) as { tokenName: string; draining: boolean }[];
  expect(await listed()).toMatchObject([{ tokenName: 'gpu-box-1', draining: true }]);
  await row.getByRole('button', { name: 'Resume' }).click();
  await expect.poll(() => row.locator('td.runner-state').innerText()).toBe('connected');
  expect(await listed()).toMatchObject([{ tokenName: 'gpu-box-1', draining: false }]);
});

test('a token without admin sees no Runners link, and the page says what it needs; a server without runners says how to enable them', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const viewer = await tokenWith(api, 'viewer', ['runs:read']);
  const page = await signedIn(base, viewer);
  expect(await page.getByRole('link', { name: 'Runners' }).count()).toBe(0);
  await page.evaluate(() => (location.hash = '#/runners'));
  await expect.poll(() => page.getByRole('alert').innerText()).toBe('This token may not see the runners: it needs the admin scope.');

  // GET /v1/runners answers 404 there, which the browser logs.
  const operator = await signedIn(base, operatorToken, '', () => {}, { allowConsoleErrors: [/status of 404/] });
  await operator.getByRole('link', { name: 'Runners' }).click();
  await expect
    .poll(() => operator.locator('main.runners-page p.empty').innerText())
    .toBe('Runners are not enabled on this server: set runners: { enabled: true } in its config and restart it (docs/operations/runners.md).');
});
