// What a first-time user sees of the dashboard, in Debian's Chromium against one real server for
// the file: a finished run (a chain wide enough to fill the screen, a patch, a retried item, two
// items sharing a lock) and a run held at an approval. Each test reads one page and checks
// several things on it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, expect, test } from 'vitest';
import { browserPages } from './browser-pages.test-support.ts';
import { runEnds, sharedServer, type SharedServer } from './shared-server.test-support.ts';
import { shell, submitRun } from './submit-run.test-support.ts';

const startServer = sharedServer();
const { signedIn, screenshot } = browserPages();

let server: SharedServer;
let releaseId: string;
let heldId: string;

/** A workspace holding `files`, as a tar stored on the server: its digest. */
async function storedWorkspace(files: Readonly<Record<string, string>>): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-workspace-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(directory, name), text);
  const bytes = execFileSync('tar', ['--format=ustar', '--owner=0', '--group=0', '-C', directory, '-cf', '-', ...Object.keys(files)]);
  rmSync(directory, { recursive: true });
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const stored = await server.api('/v1/blobs', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-cairn-digest': digest },
    body: bytes,
  });
  expect(stored.status, await stored.clone().text()).toBe(201);
  return digest;
}

beforeAll(async () => {
  server = await startServer();
  releaseId = await submitRun(server.api, {
    version: 1,
    name: 'release',
    labels: { team: 'payments' },
    // A file the build changes: its diff has lines with an old and a new number.
    workspace: { snapshot: await storedWorkspace({ 'list.txt': 'one\ntwo\nthree\n' }) },
    items: [
      shell('fetch', 'echo fetched'),
      shell('build', 'printf "hello\\nworld\\n" > greeting.txt; printf "one\\nTWO\\nthree\\n" > list.txt', { dependsOn: ['fetch'] }),
      shell('test', 'echo tested', { dependsOn: ['build'] }),
      shell('package', 'echo packaged', { dependsOn: ['test'] }),
      shell('publish', 'echo published', { dependsOn: ['package'] }),
      // Both take the lock 'db': whichever is dispatched second waits for the other.
      shell('migrate', 'sleep 2', { locks: ['db'] }),
      shell('seed', 'sleep 1', { locks: ['db'] }),
      shell('flaky', 'exit 1', { retry: { maxAttempts: 2, backoff: { initial: '1s' } } }),
    ],
  });
  heldId = await submitRun(server.api, {
    version: 1,
    name: 'held',
    items: [shell('prepare', 'true'), shell('deploy', 'echo deployed', { dependsOn: ['prepare'], approval: 'required' })],
  });
  await runEnds(server.api, releaseId);
}, 90_000);

/** The run's page, or one of its items, at `width` px wide. */
async function runPage(hash: string, width = 1280): Promise<Page> {
  const page = await signedIn(server.base, server.operatorToken, hash);
  await page.setViewportSize({ width, height: 900 });
  return page;
}

/** Whether two boxes share any area. */
function overlap(a: { x: number; y: number; width: number; height: number }, b: { x: number; y: number; width: number; height: number }): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

test("the unified diff's old and new line numbers sit side by side, apart from the code; the graph stays whole beside the item", async () => {
  const page = await runPage(`#/runs/${releaseId}/items/build`);
  const diff = page.locator('.diff');
  await expect.poll(() => diff.locator('.d2h-file-wrapper').count()).toBe(2);
  await screenshot(page, 'views-item-diff');
  // list.txt's first line is unchanged: it has both numbers.
  const row = diff.locator('.d2h-file-wrapper', { hasText: 'list.txt' }).locator('.d2h-diff-tbody tr').nth(1);
  const [oldNumber, newNumber, code] = await Promise.all([
    row.locator('.line-num1').boundingBox(),
    row.locator('.line-num2').boundingBox(),
    row.locator('.d2h-code-line-prefix').boundingBox(),
  ]);
  expect([await row.locator('.line-num1').textContent(), await row.locator('.line-num2').textContent()]).toEqual(['1', '1']);
  expect(overlap(oldNumber!, newNumber!)).toBe(false);
  // On one line: not the new number dropped below the old.
  expect(Math.abs(oldNumber!.y - newNumber!.y)).toBeLessThan(1);
  expect(oldNumber!.x).toBeLessThan(newNumber!.x);
  expect(newNumber!.x + newNumber!.width).toBeLessThanOrEqual(code!.x + 1);

  // Every box of the graph is inside the graph's area, the right-most column too, with the item open.
  const graph = (await page.locator('section.graph').boundingBox())!;
  const boxes = await page.locator('svg.dag .dag-item rect').evaluateAll((rects) => rects.map((rect) => rect.getBoundingClientRect().toJSON() as DOMRect));
  expect(boxes).toHaveLength(8);
  for (const box of boxes) expect(box.x + box.width).toBeLessThanOrEqual(graph.x + graph.width);
  await screenshot(page, 'views-item-diff');
});

test('an item waiting for approval is marked with an SVG icon, not a glyph the fonts may lack', async () => {
  const page = await runPage(`#/runs/${heldId}`);
  const node = page.locator('svg.dag [data-item-id="deploy"]');
  await expect.poll(() => node.getAttribute('data-state'), { timeout: 30_000 }).toBe('awaiting-approval');
  // The icon needs the item's approval setting, which comes with the item list, not the graph's states.
  await expect.poll(() => node.locator('svg.icon[data-icon="pause"]').count()).toBe(1);
  // No emoji or dingbat anywhere: Debian's Chromium may have no font with them (an empty box).
  const text = await page.locator('body').textContent();
  expect(text).not.toMatch(/[\u2190-\u21ff\u2300-\u23ff\u25a0-\u27bf\u{1f000}-\u{1faff}]/u);
});

test("the Evidence tab shows the evidence, not the run's graph again", async () => {
  const page = await runPage(`#/runs/${releaseId}/evidence`);
  await expect.poll(() => page.locator('.evidence .bundle-facts').count(), { timeout: 30_000 }).toBe(1);
  expect(await page.locator('svg.dag').count()).toBe(0);
  expect(await page.locator('section.graph').count()).toBe(0);
});

test('the evidence verdict is a badge with the checks below it; the audit log shows the newest entry first', async () => {
  const page = await runPage(`#/runs/${releaseId}/evidence`);
  const verdict = page.locator('.in-page-checks .verdict');
  await expect.poll(() => verdict.textContent(), { timeout: 30_000 }).toBe('Consistent, not verified');
  expect(await verdict.locator('svg.icon').count()).toBe(1);
  expect((await verdict.boundingBox())!.y).toBeLessThan((await page.locator('.checks-table').boundingBox())!.y);
  expect(await page.locator('.checks-table tr[data-status="pass"] .check-status svg.icon[data-icon="check"]').count()).toBeGreaterThan(0);

  await page.evaluate(() => (location.hash = '#/audit'));
  const seqs = () => page.locator('table.audit tbody tr').evaluateAll((rows) => rows.map((row) => Number(row.getAttribute('data-seq'))));
  await expect.poll(async () => (await seqs()).length).toBeGreaterThan(10);
  const shown = await seqs();
  expect(shown).toEqual(shown.toSorted((a, b) => b - a));
});

test('a search finds runs by a label or an item id, over the runs the list loaded', async () => {
  const page = await runPage('#/runs');
  const names = () => page.locator('table.runs tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-run-id')));
  await expect.poll(names).toEqual([heldId, releaseId]);
  const search = page.getByRole('searchbox', { name: 'Search runs' });
  await search.fill('payments');
  await expect.poll(names).toEqual([releaseId]);
  await search.fill('team=pay');
  await expect.poll(names).toEqual([releaseId]);
  await search.fill('deploy');
  await expect.poll(names).toEqual([heldId]);
  expect(await page.locator('.search-scope').textContent()).toMatch(/^1 of the 2 runs loaded match/);
  await search.fill('no-such-thing');
  await expect.poll(() => page.locator('.empty').textContent()).toBe('No run loaded matches the search.');
});

/** Every `<time>` on the page says when relatively, with its exact ISO 8601 time in `datetime` and on hover. */
async function timesAreRelative(page: Page): Promise<void> {
  const times = await page
    .locator('time')
    .evaluateAll((elements) =>
      elements.map((element) => ({ text: element.textContent, datetime: element.getAttribute('datetime'), title: element.getAttribute('title') })),
    );
  expect(times.length).toBeGreaterThan(0);
  for (const time of times) {
    expect(time.text).toMatch(/^(just now|\d+ (s|min|h|d) ago|in \d+ (s|min|h|d))$/);
    expect(time.title).toBe(time.datetime);
    expect(time.datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
  }
}

test('durations show in the runs list, the graph and the attempts, with attempt counts on the graph, and every date is relative with its ISO time on hover', async () => {
  const page = await runPage('#/runs');
  const row = page.locator(`tr[data-run-id="${releaseId}"]`);
  await expect.poll(() => row.locator('.run-duration').textContent()).toMatch(/^\d+\.\d s$/);
  await timesAreRelative(page);

  await page.evaluate((target) => (location.hash = target), `#/runs/${releaseId}/items/flaky`);
  // The graph: each item that ran says how long, and the retried one how many attempts.
  const meta = (itemId: string) => page.locator(`svg.dag [data-item-id="${itemId}"] .item-meta`);
  await expect.poll(() => meta('flaky').textContent()).toMatch(/^(\d+ ms|\d+\.\d s) · 2 attempts$/);
  expect(await meta('migrate').textContent()).toMatch(/^\d+\.\d s$/);
  expect(Number(/^(\d+\.\d) s$/.exec((await meta('migrate').textContent())!)![1])).toBeGreaterThanOrEqual(2);
  expect(await page.locator('svg.dag [data-item-id="flaky"]').getAttribute('aria-label')).toMatch(/^flaky: failed, .+ · 2 attempts$/);
  // The attempts: when each was dispatched, how long it ran.
  await expect.poll(() => page.locator('.attempts-table tr').count()).toBe(2);
  expect(await page.locator('.attempts-table tr[data-attempt="2"]').textContent()).toMatch(/ago · .*ran (\d+ ms|\d+\.\d s)/);
  await expect.poll(() => page.locator('.run-facts').textContent()).toMatch(/ · took \d+\.\d s/);
  await timesAreRelative(page);
});

test("a run's timeline draws each item's attempts as bars over time, coloured by outcome, with queue and lock waits shaded", async () => {
  const page = await runPage(`#/runs/${releaseId}`);
  await page.getByRole('link', { name: 'Timeline' }).click();
  const row = (itemId: string) => page.locator(`.timeline-row[data-item-id="${itemId}"]`);
  await expect.poll(() => page.locator('.timeline-row[data-item-id] .bar-run').count()).toBe(9);
  expect(
    await row('flaky')
      .locator('.bar-run')
      .evaluateAll((bars) => bars.map((bar) => [bar.getAttribute('data-attempt'), bar.getAttribute('data-state')])),
  ).toEqual([
    ['1', 'failed'],
    ['2', 'failed'],
  ]);
  expect(await row('build').locator('.bar-run').getAttribute('data-state')).toBe('succeeded');
  // build became ready when fetch ended: its queue wait is drawn, and its run starts after fetch's.
  expect(await row('build').locator('.bar-queue').count()).toBe(1);
  const fetchRun = (await row('fetch').locator('.bar-run').boundingBox())!;
  const buildRun = (await row('build').locator('.bar-run').boundingBox())!;
  expect(buildRun.x).toBeGreaterThanOrEqual(fetchRun.x + fetchRun.width - 1);
  // One of the two items sharing the lock waited for it.
  expect((await row('migrate').locator('.bar-lock').count()) + (await row('seed').locator('.bar-lock').count())).toBe(1);
  // Every bar inside its track.
  const outside = await page.locator('.timeline-track').evaluateAll((tracks) =>
    tracks.flatMap((track) => {
      const box = track.getBoundingClientRect();
      return Array.from(track.querySelectorAll('.bar')).filter((bar) => {
        const own = bar.getBoundingClientRect();
        return own.left < box.left - 1 || own.right > box.right + 1;
      }).length;
    }),
  );
  expect(outside.reduce((sum, count) => sum + count, 0)).toBe(0);
  expect(await page.locator('.timeline-axis .tick').count()).toBeGreaterThan(1);
  await screenshot(page, 'views-timeline');
  await row('build').getByRole('link', { name: 'build' }).click();
  await expect.poll(() => page.url()).toMatch(/\/items\/build$/);
});

/** The four views the docs show, each with what says it has drawn. */
const views = [
  { name: 'run-list', hash: () => '#/runs', ready: (page: Page) => page.locator(`tr[data-run-id="${releaseId}"] .run-duration`).count() },
  { name: 'run-timeline', hash: () => `#/runs/${releaseId}/timeline`, ready: (page: Page) => page.locator('.timeline .bar-run').count() },
  { name: 'item-diff', hash: () => `#/runs/${releaseId}/items/build`, ready: (page: Page) => page.locator('.diff .d2h-file-wrapper').count() },
  { name: 'evidence', hash: () => `#/runs/${releaseId}/evidence`, ready: (page: Page) => page.locator('.in-page-checks .verdict').count() },
] as const;

/** The relative luminance (0 black, 1 white) of a CSS `rgb(...)` colour. */
function luminance(color: string): number {
  const [r, g, b] = color
    .match(/\d+(\.\d+)?/g)!
    .slice(0, 3)
    .map((channel) => {
      const value = Number(channel) / 255;
      return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The contrast ratio of the page's body text on its background. */
async function bodyContrast(page: Page): Promise<{ background: number; ratio: number }> {
  const [text, background] = await page.evaluate(() => {
    const style = getComputedStyle(document.documentElement);
    return [style.color, style.backgroundColor];
  });
  const [light, dark] = [luminance(text), luminance(background)].toSorted((a, b) => b - a) as [number, number];
  return { background: luminance(background), ratio: (light + 0.05) / (dark + 0.05) };
}

/** A state badge's text contrast on its background, and whether that background differs from the page's panels (white or near-black). */
async function badgeColours(page: Page, selector: string): Promise<{ ratio: number; tinted: boolean }> {
  await expect.poll(() => page.locator(selector).count()).toBeGreaterThan(0);
  const [text, background, paper] = await page
    .locator(selector)
    .first()
    .evaluate((element) => [
      getComputedStyle(element).color,
      getComputedStyle(element).backgroundColor,
      getComputedStyle(document.documentElement).getPropertyValue('--paper'),
    ]);
  const [fg, bg] = [luminance(text), luminance(background)];
  return { ratio: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05), tinted: !background.includes('0, 0, 0, 0') && background !== hexToRgb(paper) };
}

/** `#rrggbb` as getComputedStyle writes it: `rgb(r, g, b)`. */
function hexToRgb(hex: string): string {
  const value = hex.trim().replace('#', '');
  return `rgb(${[0, 2, 4].map((offset) => Number.parseInt(value.slice(offset, offset + 2), 16)).join(', ')})`;
}

test('each view fits 1400 and 800 px without sideways scrolling, and follows the system into dark mode (screenshots in docs/images)', async () => {
  const page = await runPage('#/runs');
  for (const width of [1400, 800]) {
    await page.setViewportSize({ width, height: 900 });
    for (const view of views) {
      await page.evaluate((target) => (location.hash = target), view.hash());
      await expect.poll(() => view.ready(page), { timeout: 30_000 }).toBeGreaterThan(0);
      // Nothing wider than the window: the page never scrolls sideways (the diff and the graph scroll in their own boxes).
      const wide = await page.evaluate(() =>
        Array.from(document.querySelectorAll('body *'))
          .filter((element) => element.getBoundingClientRect().right > innerWidth + 1)
          .slice(0, 3)
          .map((element) => `${element.tagName}.${element.className}`),
      );
      expect(
        await page.evaluate(() => document.documentElement.scrollWidth - innerWidth),
        `${view.name} at ${width} px: ${wide.join(', ')}`,
      ).toBeLessThanOrEqual(0);
      // The docs show the window: the item's view is shown at its patch.
      if (view.name === 'item-diff') await page.locator('.patch').evaluate((element) => element.scrollIntoView({ block: 'center' }));
      await screenshot(page, `views-${view.name}-${width}`, { docs: `dashboard-${view.name}-${width}.png` });
      await page.evaluate(() => scrollTo(0, 0));
    }
  }
  expect((await bodyContrast(page)).background).toBeGreaterThan(0.8);
  // A state's badge has its own colour, not the page's, and its text reads on it.
  await page.evaluate((target) => (location.hash = target), `#/runs/${releaseId}`);
  const light = await badgeColours(page, 'h1 .state-badge');
  expect(light.tinted).toBe(true);
  expect(light.ratio).toBeGreaterThanOrEqual(4.5);
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await bodyContrast(page);
  expect(dark.background).toBeLessThan(0.05);
  expect(dark.ratio).toBeGreaterThanOrEqual(7);
  // The states stay readable on their own colours, the diff turns dark with the page.
  await page.evaluate((target) => (location.hash = target), `#/runs/${releaseId}/items/build`);
  await expect.poll(() => page.locator('.diff .d2h-file-wrapper').count()).toBeGreaterThan(0);
  expect(await badgeColours(page, '.item-panel h2 .state-badge')).toMatchObject({ tinted: true });
  expect((await badgeColours(page, '.item-panel h2 .state-badge')).ratio).toBeGreaterThanOrEqual(4.5);
  expect(
    luminance(
      await page
        .locator('.d2h-file-wrapper')
        .first()
        .evaluate((element) => getComputedStyle(element).backgroundColor),
    ),
  ).toBeLessThan(0.05);
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.locator('.patch').evaluate((element) => element.scrollIntoView({ block: 'center' }));
  await screenshot(page, 'views-item-diff-dark', { docs: 'dashboard-item-diff-dark-1400.png' });
});
