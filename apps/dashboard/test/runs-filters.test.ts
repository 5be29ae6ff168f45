// The runs page's filters in Debian's Chromium against a real server: by exact name, by submitter
// and by submit time, each narrowing the list to exactly the runs the API gives for the same
// query, kept in the page's URL (a reload keeps them) and by the live updates.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

type Api = (path: string, init?: RequestInit) => Promise<Response>;

/** An API caller with its own token (`scopes`), and the actor id its runs show as submittedBy. */
async function submitter(api: Api, name: string): Promise<{ as: Api; actorId: string }> {
  const created = await api('/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, scopes: ['runs:read', 'runs:submit'] }),
  });
  expect(created.status).toBe(201);
  const { token, record } = (await created.json()) as { token: string; record: { id: string } };
  const as: Api = (path, init = {}) => api(path, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } });
  return { as, actorId: `token:${record.id}` };
}

const rowIds = (page: Page) => page.locator('table.runs tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-run-id')));

async function apiIds(api: Api, query: string): Promise<string[]> {
  const response = await api(`/v1/runs?${query}`);
  expect(response.status, query).toBe(200);
  return ((await response.json()) as { runs: { runId: string }[] }).runs.map((run) => run.runId);
}

/** The times are picked as a person would, in the browser's time zone (a date and time picker, to the millisecond). */
async function applyFilters(page: Page, values: Record<string, string>): Promise<void> {
  const form = page.getByRole('form', { name: 'Filter runs' });
  for (const label of ['Name', 'Submitter']) await form.getByLabel(label).fill(values[label] ?? '');
  for (const label of ['Submitted at or after', 'Submitted before']) {
    const input = form.getByLabel(label);
    expect(await input.getAttribute('type')).toBe('datetime-local');
    const iso = values[label];
    const local =
      iso === undefined
        ? ''
        : await page.evaluate((time) => {
            const at = new Date(time);
            return new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 23);
          }, iso);
    await input.fill(local);
  }
  await form.getByRole('button', { name: 'Apply' }).click();
}

test('each filter narrows the list to exactly the right runs, in the page and through the API, and stays in the URL', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const ana = await submitter(api, 'ana');
  const bo = await submitter(api, 'bo');
  const first = await submitRun(ana.as, { version: 1, name: 'nightly', items: [shell('ok', 'true')] });
  await sleep(20);
  const second = await submitRun(bo.as, { version: 1, name: 'release', items: [shell('ok', 'true')] });
  await sleep(20);
  const third = await submitRun(bo.as, { version: 1, name: 'nightly', items: [shell('ok', 'true')] });
  for (const runId of [first, second, third]) await runReaches(api, runId);
  const submittedAt = async (runId: string) => ((await (await api(`/v1/runs/${runId}`)).json()) as { submittedAt: string }).submittedAt;
  const [secondAt, thirdAt] = [await submittedAt(second), await submittedAt(third)];

  const page = await signedIn(base, operatorToken);
  await expect.poll(() => rowIds(page)).toEqual([third, second, first]);
  // The By column names each submitter by its token's name (the operator may list tokens); the id
  // stays on hover and in the filter its link sets.
  const submitters = page.locator('table.runs tbody tr .submitter');
  await expect.poll(() => submitters.allTextContents()).toEqual(['bo', 'bo', 'ana']);
  expect(await submitters.evaluateAll((links) => links.map((link) => link.getAttribute('data-actor')))).toEqual([bo.actorId, bo.actorId, ana.actorId]);

  await applyFilters(page, { Name: 'nightly' });
  await expect.poll(() => rowIds(page)).toEqual([third, first]);
  expect(await apiIds(api, 'name=nightly')).toEqual([third, first]);
  expect(page.url()).toMatch(/#\/runs\?name=nightly$/);
  await screenshot(page, 'runs-filtered');

  await applyFilters(page, { Submitter: bo.actorId });
  await expect.poll(() => rowIds(page)).toEqual([third, second]);
  expect(await apiIds(api, `submitter=${encodeURIComponent(bo.actorId)}`)).toEqual([third, second]);

  await applyFilters(page, { Name: 'nightly', Submitter: ana.actorId });
  await expect.poll(() => rowIds(page)).toEqual([first]);

  await applyFilters(page, { 'Submitted at or after': secondAt, 'Submitted before': thirdAt });
  await expect.poll(() => rowIds(page)).toEqual([second]);
  expect(await apiIds(api, `submittedAfter=${encodeURIComponent(secondAt)}&submittedBefore=${encodeURIComponent(thirdAt)}`)).toEqual([second]);
  await applyFilters(page, { 'Submitted at or after': secondAt });
  await expect.poll(() => rowIds(page)).toEqual([third, second]);
  // The picked time is in the URL as the RFC 3339 UTC time the API takes.
  expect(decodeURIComponent(page.url())).toContain(`submittedAfter=${new Date(secondAt).toISOString()}`);

  // A state link keeps the other filters, and a reload keeps them all (they are in the URL).
  await applyFilters(page, { Name: 'nightly' });
  await expect.poll(() => rowIds(page)).toEqual([third, first]);
  await page.locator('.state-filter [data-state="succeeded"]').click();
  await expect.poll(() => page.url()).toMatch(/#\/runs\?state=succeeded&name=nightly$/);
  await expect.poll(() => rowIds(page)).toEqual([third, first]);
  await page.reload();
  await expect.poll(() => rowIds(page)).toEqual([third, first]);
  expect(await page.getByRole('form', { name: 'Filter runs' }).getByLabel('Name').inputValue()).toBe('nightly');
  // The submitter column links to that submitter's runs.
  await page.locator(`table.runs tbody tr[data-run-id="${first}"]`).getByRole('link', { name: 'ana', exact: true }).click();
  await expect.poll(() => rowIds(page)).toEqual([first]);

  // Clear drops the filters.
  await page.getByRole('form', { name: 'Filter runs' }).getByRole('link', { name: 'Clear' }).click();
  await expect.poll(() => rowIds(page)).toEqual([third, second, first]);
});

test('live updates keep the filters: a run of another name submitted meanwhile does not appear', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const earlier = await submitRun(api, { version: 1, name: 'nightly', items: [shell('ok', 'true')] });
  await runReaches(api, earlier);
  const page = await signedIn(base, operatorToken, '#/runs?name=nightly');
  await expect.poll(() => rowIds(page)).toEqual([earlier]);
  await expect.poll(() => page.locator('.live.on').count()).toBe(1);
  const other = await submitRun(api, { version: 1, name: 'release', items: [shell('ok', 'true')] });
  await runReaches(api, other);
  const later = await submitRun(api, { version: 1, name: 'nightly', items: [shell('ok', 'true')] });
  await expect.poll(() => rowIds(page), { timeout: 15_000 }).toEqual([later, earlier]);
  await runReaches(api, later);
  await expect.poll(() => page.locator(`table.runs tbody tr[data-run-id="${later}"] .state-badge`).textContent(), { timeout: 15_000 }).toBe('succeeded');
  expect(await rowIds(page)).toEqual([later, earlier]);
});

test('a bad time is refused by the API naming the parameter, and the page shows why', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const refused = await api('/v1/runs?submittedAfter=yesterday');
  expect(refused.status).toBe(400);
  expect(await refused.json()).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'query.submittedAfter' });
  // A picker cannot hold a bad time; a link can.
  const page = await signedIn(base, operatorToken, '#/runs?submittedAfter=yesterday', () => {}, { allowConsoleErrors: [/status of 400/] });
  await expect.poll(() => page.getByRole('alert').textContent()).toContain('submittedAfter');
});
