// The Schedules and Audit log pages in Debian's Chromium against a real server: a schedule made
// through the API shows with its next fire time (and a Remove button only for a token that may
// remove it); the audit log filtered by run shows exactly that run's entries, pages through a
// longer log, links to the run, and exports the bytes the API serves.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

type Api = (path: string, init?: RequestInit) => Promise<Response>;

async function tokenWith(api: Api, scopes: string[]): Promise<string> {
  const created = await api('/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'browser', scopes }),
  });
  expect(created.status).toBe(201);
  return ((await created.json()) as { token: string }).token;
}

test('a schedule created through the API shows with its cron, next fire time and spec; only a token that may remove it gets Remove', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const created = await api('/v1/schedules', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      scheduleId: 'nightly-build',
      cron: '0 3 * * *',
      timeZone: 'UTC',
      spec: { version: 1, name: 'nightly', items: [shell('ok', 'true')] },
    }),
  });
  expect(created.status).toBe(201);
  const schedule = (await created.json()) as { nextSlot: string; specDigest: string };
  expect(schedule.nextSlot).toMatch(/T03:00:00\.000Z$/);

  const viewer = await tokenWith(api, ['runs:read']);
  const page = await signedIn(base, viewer);
  // Keyboard only: Tab reaches the Schedules link of the top bar, Enter opens it.
  await page.locator('body').focus();
  for (let presses = 0; presses < 10 && (await page.evaluate(() => document.activeElement?.textContent?.trim())) !== 'Schedules'; presses++)
    await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe('Schedules');
  await page.keyboard.press('Enter');
  await expect.poll(() => page.url()).toMatch(/#\/schedules$/);
  // The address changes before the app renders the page it names: wait for the render.
  await expect.poll(() => page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Schedules' }).getAttribute('aria-current')).toBe('page');
  const row = page.locator('table.schedules tbody tr[data-schedule-id="nightly-build"]');
  await expect.poll(() => row.count()).toBe(1);
  expect(await row.locator('.next-fire time').getAttribute('datetime')).toBe(schedule.nextSlot);
  // Relative, with the exact time on hover.
  expect(await row.locator('.next-fire time').getAttribute('title')).toBe(schedule.nextSlot);
  expect(await row.locator('.next-fire').textContent()).toMatch(/^in \d+ (s|min|h|d)$/);
  expect(await row.textContent()).toContain('0 3 * * *');
  expect(await row.locator('.last-fire').textContent()).toBe('not yet');
  expect(await row.textContent()).toContain(schedule.specDigest.slice(0, 19));
  expect(await page.getByRole('button', { name: /Remove/ }).count()).toBe(0);
  // A viewer has no audit:read: no Audit log link.
  expect(await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Audit log' }).count()).toBe(0);
  await screenshot(page, 'schedules');

  const operator = await signedIn(base, operatorToken, '#/schedules');
  const operatorRow = operator.locator('table.schedules tbody tr[data-schedule-id="nightly-build"]');
  await operatorRow.getByRole('button', { name: 'Remove…' }).click();
  await operatorRow.getByRole('button', { name: 'Remove nightly-build' }).click();
  await expect.poll(() => operator.locator('.empty').textContent()).toContain('No schedules');
  expect(await (await api('/v1/schedules')).json()).toEqual([]);
});

test('the audit log filtered by run shows only its entries, links to the run, and exports the bytes the API serves', async () => {
  const { base, api } = await start('tokens');
  const auditor = await tokenWith(api, ['runs:read', 'audit:read']);
  const one = await submitRun(api, { version: 1, name: 'one', items: [shell('a', 'true'), shell('b', 'true', { dependsOn: ['a'] })] });
  const other = await submitRun(api, { version: 1, name: 'other', items: [shell('a', 'true')] });
  await runReaches(api, one);
  await runReaches(api, other);
  const ndjson = async (query: string) => (await api(`/v1/audit${query}`)).text();
  const seqsOf = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { entry: { seq: number } }).entry.seq);
  const ofOne = seqsOf(await ndjson(`?runId=${one}`));
  expect(ofOne.length).toBeGreaterThan(3);

  const page = await signedIn(base, auditor);
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Audit log' }).click();
  const rows = page.locator('table.audit tbody tr');
  await expect.poll(() => rows.count()).toBeGreaterThan(ofOne.length);
  const form = page.getByRole('form', { name: 'Filter audit entries' });
  await form.getByLabel('Run').fill(one);
  await form.getByRole('button', { name: 'Apply' }).click();
  await expect.poll(() => page.url()).toContain(`#/audit?runId=${one}`);
  await expect.poll(() => rows.evaluateAll((elements) => elements.map((element) => Number(element.getAttribute('data-seq'))))).toEqual(ofOne.toReversed());
  expect(new Set(await rows.evaluateAll((elements) => elements.map((element) => element.getAttribute('data-run-id'))))).toEqual(new Set([one]));
  // Newest first: the run's submission is its oldest entry, at the bottom.
  const submitted = rows.last();
  expect(await submitted.textContent()).toContain('run.submitted');
  expect(await submitted.locator('.outcome').textContent()).toBe('success');
  await screenshot(page, 'audit');

  // Export: the bytes the API serves for the same filter.
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export (NDJSON)' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe(`audit-${one}.ndjson`);
  expect(readFileSync((await file.path())!)).toEqual(Buffer.from(await (await api(`/v1/audit?runId=${one}`)).arrayBuffer()));

  // An entry of a run links to the run's page.
  await submitted.getByRole('link', { name: `run ${one}` }).click();
  await expect.poll(() => page.url()).toMatch(new RegExp(`#/runs/${one}$`));
  await expect.poll(() => page.locator('h1 .state-badge').textContent()).toBe('succeeded');
});

test('a log longer than a page is read a page at a time, newest first, each entry once', async () => {
  const { base, api } = await start('tokens');
  const auditor = await tokenWith(api, ['runs:read', 'audit:read']);
  const runId = await submitRun(api, { version: 1, name: 'wide', items: Array.from({ length: 30 }, (_, index) => shell(`i${index}`, 'true')) });
  await runReaches(api, runId);
  const all = (await (await api(`/v1/audit?runId=${runId}`)).text())
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { entry: { seq: number } }).entry.seq);
  expect(all.length).toBeGreaterThan(100);
  const page = await signedIn(base, auditor, `#/audit?runId=${runId}`);
  const seqs = () => page.locator('table.audit tbody tr').evaluateAll((elements) => elements.map((element) => Number(element.getAttribute('data-seq'))));
  const newestFirst = all.toReversed();
  await expect.poll(seqs).toEqual(newestFirst.slice(0, 100));
  await page.getByRole('button', { name: 'Older 100' }).click();
  await expect.poll(seqs).toEqual(newestFirst.slice(0, 200));
  expect(await page.getByRole('button', { name: /Older/ }).count()).toBe(all.length > 200 ? 1 : 0);
  // Unfiltered, the log's newest entry comes first too.
  const newest = (await (await api('/v1/audit')).text())
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { entry: { seq: number } }).entry.seq)
    .at(-1);
  await page.evaluate(() => (location.hash = '#/audit'));
  await expect.poll(async () => (await seqs())[0]).toBe(newest);
});
