// Signing in to the dashboard in a real browser (Debian's Chromium) against a real server: a
// server asks for a token and keeps it in the tab's sessionStorage only (a loopback-operator
// server too: cross-origin.test.ts).
import { expect, test } from 'vitest';
import { runCli } from '../../server/src/cli/run-cli.test-support.ts';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';

const start = runningServers();
const { open, screenshot } = browserPages();

test('a token server asks for a token, refuses a wrong one, and keeps a good one in this tab only, never in the URL or localStorage', async () => {
  const { base, operatorToken } = await start('tokens');
  const page = await open(`${base}/dashboard/`, { allowConsoleErrors: [/status of 401/] });
  await expect.poll(() => page.getByLabel('Bearer token').isVisible()).toBe(true);
  expect(await page.locator('.hint').textContent()).toContain('cairn dashboard');
  await page.getByLabel('Bearer token').fill('cairn_not-a-real-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toContain('unknown or revoked');
  await screenshot(page, 'sign-in-refused');

  await page.getByLabel('Bearer token').fill(operatorToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('heading', { name: /Runs/ }).isVisible()).toBe(true);
  expect(page.url()).not.toContain(operatorToken);
  expect(await page.evaluate(() => ({ session: sessionStorage.getItem('cairn.token'), local: localStorage.length }))).toEqual({
    session: operatorToken,
    local: 0,
  });

  // A reload keeps the tab signed in; another tab (a fresh context) is not.
  await page.reload();
  await expect.poll(() => page.getByRole('heading', { name: /Runs/ }).isVisible()).toBe(true);
  const other = await open(`${base}/dashboard/`);
  await expect.poll(() => other.getByLabel('Bearer token').isVisible()).toBe(true);

  // Signing out forgets the token; a token pasted in is the user's, and the server keeps it valid.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect.poll(() => page.getByLabel('Bearer token').isVisible()).toBe(true);
  expect(await page.getByText('Signed out.').isVisible()).toBe(true);
  expect(await page.evaluate(() => sessionStorage.getItem('cairn.token'))).toBeNull();
  expect((await fetch(`${base}/v1/session`, { headers: { authorization: `Bearer ${operatorToken}` } })).status).toBe(200);
});

test('a token revoked while the page is open sends the tab back to sign-in', async () => {
  const { base, api } = await start('tokens');
  const created = await api('/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'viewer', scopes: ['runs:read'] }),
  });
  const { token, record } = (await created.json()) as { token: string; record: { id: string } };
  const page = await open(`${base}/dashboard/`, { allowConsoleErrors: [/status of 401/] });
  await page.getByLabel('Bearer token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('heading', { name: /Runs/ }).isVisible()).toBe(true);
  expect((await api(`/v1/tokens/${record.id}`, { method: 'DELETE' })).status).toBe(200);
  // The tab still holds the revoked token (the open page may or may not have met a refusal yet):
  // set it again on a page of the same origin where no app code runs, then open the dashboard.
  // (The browser asks a JSON page's origin for its favicon, which the server does not have.)
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
  await page.goto(`${base}/healthz`);
  await page.evaluate((revoked) => sessionStorage.setItem('cairn.token', revoked), token);
  await page.goto(`${base}/dashboard/`);
  await expect.poll(() => page.getByText('no longer accepts this token').isVisible()).toBe(true);
  expect(await page.evaluate(() => sessionStorage.getItem('cairn.token'))).toBeNull();
});

test('the one-time link `cairn dashboard` prints signs the tab in, leaves no code in the address bar, works only once, and signing out revokes its session', async () => {
  const { base, configFile, composition } = await start('tokens');
  const printed = await runCli(['--config', configFile, 'dashboard', '--server', base]);
  expect(printed.status).toBe(0);
  const url = printed.stdout.split('\n')[0]!;
  const code = /#signin=(cairn_\S+)$/.exec(url)![1]!;
  expect(url).toBe(`${base}/dashboard/#signin=${code}`);
  expect(printed.stdout).toContain('works once');

  const page = await open(url);
  await expect.poll(() => page.getByRole('heading', { name: /Runs/ }).isVisible()).toBe(true);
  expect(page.url()).toBe(`${base}/dashboard/`);
  const kept = await page.evaluate(() => ({ session: sessionStorage.getItem('cairn.token'), local: localStorage.length }));
  expect(kept.session).toMatch(/^cairn_[0-9a-f]{12}_/);
  expect(kept.session).not.toBe(code);
  expect(kept.local).toBe(0);
  // The link's buttons follow its default scopes: the audit log, but no token management.
  expect(await page.getByRole('link', { name: 'Audit log' }).isVisible()).toBe(true);
  // A reload keeps the tab signed in with its session token, not the code.
  await page.reload();
  await expect.poll(() => page.getByRole('heading', { name: /Runs/ }).isVisible()).toBe(true);

  // Signing out ends the session on the server too: its token (a copy kept elsewhere) is revoked, and audited.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect.poll(() => page.getByText('Signed out.').isVisible()).toBe(true);
  expect((await fetch(`${base}/v1/session`, { headers: { authorization: `Bearer ${kept.session}` } })).status).toBe(401);
  const revoked = [...composition.engine.audit.entries()].filter((entry) => entry.action === 'token.revoked');
  expect(revoked.map((entry) => entry.data['name'])).toEqual(['dashboard session']);

  // The same link in another tab is refused, and says why on the sign-in form.
  const other = await open(url, { allowConsoleErrors: [/status of 401/] });
  await expect.poll(() => other.getByLabel('Bearer token').isVisible()).toBe(true);
  expect(await other.getByText('The sign-in link did not work').textContent()).toContain('used already or expired');
  expect(other.url()).toBe(`${base}/dashboard/`);
  expect(await other.evaluate(() => sessionStorage.getItem('cairn.token'))).toBeNull();
  await screenshot(other, 'sign-in-link-used');
});

test('the one-time link opened in a tab already showing the dashboard (only its fragment changes) signs that tab in and leaves no code in the address bar', async () => {
  const { base, configFile } = await start('tokens');
  const page = await open(`${base}/dashboard/`);
  await expect.poll(() => page.getByLabel('Bearer token').isVisible()).toBe(true);
  const printed = await runCli(['--config', configFile, 'dashboard', '--server', base]);
  const url = printed.stdout.split('\n')[0]!;
  const code = /#signin=(cairn_\S+)$/.exec(url)![1]!;
  // The same document: no page load, only a hashchange.
  const loads: string[] = [];
  page.on('load', () => loads.push(page.url()));
  await page.goto(url);
  await expect.poll(() => page.getByRole('heading', { name: /Runs/ }).isVisible()).toBe(true);
  expect(loads).toEqual([]);
  expect(page.url()).toBe(`${base}/dashboard/`);
  const session = await page.evaluate(() => sessionStorage.getItem('cairn.token'));
  expect(session).toMatch(/^cairn_[0-9a-f]{12}_/);
  expect(session).not.toBe(code);
  expect((await fetch(`${base}/v1/session`, { headers: { authorization: `Bearer ${session}` } })).status).toBe(200);
});
