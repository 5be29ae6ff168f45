// An allow-listed item's network on its page, in Debian's Chromium against a real server (ADR 0049):
// the item runs behind its egress proxy in a real sandbox and asks for a host its list does not
// hold; the page says how many connections were allowed and refused, and, for the refusal, the
// entry to add to network.allow, with a button that copies it. The proxy refuses before it
// resolves or connects: no internet is needed.
import { expect, test } from 'vitest';
import { egressReasonWords as cliWords } from '../../server/src/cli/egress-lines.ts';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { egressReasonWords } from '../src/item/egress-reasons.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

test("an allow-listed item's page shows what its proxy refused, and the allow entry that would admit it, ready to copy", { timeout: 120_000 }, async () => {
  const { base, api, operatorToken } = await start('tokens', { config: { executor: { kind: 'local', network: { allow: ['registry.npmjs.org'] } } } });
  const runId = await submitRun(api, {
    version: 1,
    name: 'fetch-a-page',
    items: [
      shell('fetch', 'curl -fsS --max-time 20 https://example.com/ || curl -fsS --max-time 20 http://10.1.2.3/ || exit 7', {
        network: { allow: ['registry.npmjs.org'] },
      }),
    ],
  });
  await runReaches(api, runId);
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/fetch`);
  const network = page.getByRole('region', { name: 'Network' });
  await expect
    .poll(() => network.locator('.egress-counts').textContent(), { timeout: 30_000 })
    .toBe('Attempt 1 ran behind its allow-list: 0 connections allowed, 2 refused');
  const rows = network.getByRole('table', { name: 'Connections refused in attempt 1' }).locator('tbody tr');
  expect(await rows.count()).toBe(2);
  expect(await rows.nth(0).locator('td').allTextContents()).toEqual(['example.com:443', 'not-allowed', 'add example.com to network.allow Copy']);
  expect(await rows.nth(1).locator('td').allTextContents()).toEqual([
    '10.1.2.3:80',
    'ip-literal',
    'not allowable: an IP address; the network is reached by host name only',
  ]);
  await screenshot(page, 'item-egress-denial', { docs: 'egress-denial.png' });

  // Copy: the entry reaches the clipboard (Chromium grants it to the page here), and the page says so.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await network.getByRole('button', { name: 'Copy example.com' }).click();
  await expect.poll(() => rows.nth(0).getByRole('status').textContent()).toBe(' copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('example.com');
});

test('the page and the CLI say the same of every refusal reason', () => {
  expect(egressReasonWords).toEqual(cliWords);
});
