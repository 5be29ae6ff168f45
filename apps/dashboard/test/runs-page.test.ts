// The runs page in Debian's Chromium against a real server: newest first, counts by state, a
// filter by state, and live — a run submitted while the page is open appears and changes state
// without a reload.
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

test('the runs are listed newest first with counts by state, and the filter shows one state', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const passing = await submitRun(api, { version: 1, name: 'passing', items: [shell('ok', 'true')] });
  await runReaches(api, passing);
  const breaking = await submitRun(api, { version: 1, name: 'breaking', priority: 5, items: [shell('broken', 'exit 3')] });
  await runReaches(api, breaking);

  const page = await signedIn(base, operatorToken);
  const rows = page.locator('table.runs tbody tr');
  await expect.poll(() => rows.count()).toBe(2);
  expect(await rows.evaluateAll((elements) => elements.map((element) => element.getAttribute('data-run-id')))).toEqual([breaking, passing]);
  expect(await rows.nth(0).locator('.state-badge').textContent()).toBe('failed');
  expect(await rows.nth(1).locator('.state-badge').textContent()).toBe('succeeded');
  // The spec's priority, else 3.
  expect(await rows.evaluateAll((elements) => elements.map((element) => element.querySelector('.run-priority')?.textContent))).toEqual(['5', '3']);
  const count = (state: string) => page.locator(`.state-filter [data-state="${state}"] .count`).textContent();
  await expect.poll(() => count('all')).toBe('2');
  expect(await count('failed')).toBe('1');
  expect(await count('succeeded')).toBe('1');
  expect(await count('running')).toBe('0');
  await screenshot(page, 'runs');

  await page.locator('.state-filter [data-state="failed"]').click();
  await expect.poll(() => rows.count()).toBe(1);
  expect(await rows.nth(0).getAttribute('data-run-id')).toBe(breaking);
  expect(page.url()).toMatch(/#\/runs\?state=failed$/);
  await page.locator('.state-filter [data-state="all"]').click();
  await expect.poll(() => rows.count()).toBe(2);
});

test('a run submitted while the page is open appears, and its state changes, without a reload', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const earlier = await submitRun(api, { version: 1, name: 'earlier', items: [shell('ok', 'true')] });
  await runReaches(api, earlier);
  const streamRequests: (string | null)[] = [];
  const page = await signedIn(base, operatorToken, '', (opened) =>
    opened.on('request', (request) => {
      if (new URL(request.url()).pathname === '/v1/events') streamRequests.push(request.headers()['last-event-id'] ?? null);
    }),
  );
  await expect.poll(() => page.locator('.live.on').count()).toBe(1);
  // The stream starts after what the list already shows: the server's history is not replayed.
  const { auditEntries } = (await (await fetch(`${base}/readyz`)).json()) as { auditEntries: number };
  expect(streamRequests).toHaveLength(1);
  expect(Number(streamRequests[0])).toBeGreaterThan(0);
  expect(Number(streamRequests[0])).toBeLessThanOrEqual(auditEntries - 1);
  // A mark in the page: a reload would lose it.
  await page.evaluate(() => ((window as unknown as { stillTheSamePage: boolean }).stillTheSamePage = true));
  const runId = await submitRun(api, { version: 1, name: 'slow', items: [shell('nap', 'sleep 2')] });
  const row = page.locator(`table.runs tbody tr[data-run-id="${runId}"]`);
  await expect.poll(() => row.locator('.state-badge').textContent(), { timeout: 15_000 }).toMatch(/^(queued|running)$/);
  await expect.poll(() => row.locator('.state-badge').textContent(), { timeout: 30_000 }).toBe('succeeded');
  await expect.poll(() => page.locator('.state-filter [data-state="succeeded"] .count').textContent()).toBe('2');
  expect(await page.evaluate(() => (window as unknown as { stillTheSamePage?: boolean }).stillTheSamePage)).toBe(true);
});

test('at 800 px the runs list fits the window: long names and ids wrap in their cells, and the page never scrolls sideways', async () => {
  const { base, api, operatorToken } = await start('tokens');
  // A name with no place to break (underscores), a run held at an approval (the widest state), one still running.
  const long = 'nightly_dependency_upgrade_for_the_payments_service_and_every_one_of_its_clients';
  const held = await submitRun(api, {
    version: 1,
    name: long,
    items: [shell('prepare', 'true'), shell('deploy', 'true', { dependsOn: ['prepare'], approval: 'required' })],
  });
  await runReaches(api, held, ['awaiting-approval', 'running']);
  const running = await submitRun(api, { version: 1, name: `${long}_again`, items: [shell('wait', 'sleep 30')] });
  await runReaches(api, running, ['running']);

  const page = await signedIn(base, operatorToken);
  await page.setViewportSize({ width: 800, height: 900 });
  await expect.poll(() => page.locator('table.runs tbody tr').count()).toBe(2);
  const overflow = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth - innerWidth,
    table: Math.round(document.querySelector('table.runs')!.getBoundingClientRect().right - innerWidth),
    wide: Array.from(document.querySelectorAll('body *'))
      .filter((element) => element.getBoundingClientRect().right > innerWidth + 1)
      .slice(0, 3)
      .map((element) => `${element.tagName}.${element.className}: ${element.textContent?.slice(0, 40)}`),
  }));
  expect(overflow.page, overflow.wide.join(', ')).toBeLessThanOrEqual(0);
  expect(overflow.table).toBeLessThanOrEqual(0);
  // The name is all there, wrapped, not cut.
  expect(await page.locator(`tr[data-run-id="${held}"] td a`).first().textContent()).toBe(long);
  await api(`/v1/runs/${running}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
});
