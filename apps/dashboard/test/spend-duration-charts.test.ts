// Duration and spend drawn over time, in Debian's Chromium against a real server whose model
// gateway fronts scripted endpoints: the runs list charts each listed run by submit time, a run's
// Timeline tab charts its items over the run's span; both with an SVG title and description and a
// table of the same figures, and neither makes the page scroll sideways at 800 or 1400 px.
import { expect, test } from 'vitest';
import { gatewayServers } from '../../server/src/capabilities/gateway/gateway-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { expectNoSidewaysScroll } from './page-overflow.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = gatewayServers();
const { signedIn, screenshot } = browserPages();

test("the runs list charts each run's duration and spend, and a run's timeline charts its items', at 800 and 1400 px", async () => {
  const { base, api, operatorToken } = await start(
    {
      chat: [
        { toolCalls: [{ name: 'write_file', input: { path: 'notes.md', content: 'from the model\n' } }], usage: { inputTokens: 40_000, outputTokens: 9_000 } },
        { text: 'Done.', usage: { inputTokens: 41_000, outputTokens: 40 } },
      ],
    },
    { provider: 'openai', providerKey: 'sk-provider-charts', runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxRetries: 0 } } },
  );
  const quick = await submitRun(api, { version: 1, name: 'quick', items: [shell('ok', 'true')] });
  await runReaches(api, quick);
  const spending = await submitRun(api, {
    version: 1,
    name: 'spending',
    items: [
      { id: 'write', runtime: { kind: 'agent', adapter: 'openai-compatible', model: 'gpt-4o-mini', prompt: 'Write notes.md.' } },
      shell('settle', 'sleep 1.5', { dependsOn: ['write'] }),
    ],
  });
  await runReaches(api, spending);
  const slow = await submitRun(api, { version: 1, name: 'slow', items: [shell('nap', 'sleep 2.5'), shell('broken', 'exit 3')] });
  await runReaches(api, slow);
  const spent = ((await (await api(`/v1/runs/${spending}`)).json()) as { spend: { total: { costUsd: number }; items: Record<string, { costUsd: number }> } })
    .spend;
  expect(spent.total.costUsd).toBeGreaterThan(0);

  const took: Record<string, number> = {};
  for (const runId of [quick, spending, slow]) {
    const run = (await (await api(`/v1/runs/${runId}`)).json()) as { submittedAt: string; finishedAt: string };
    took[runId] = Date.parse(run.finishedAt) - Date.parse(run.submittedAt);
  }
  expect(took[quick]!).toBeLessThan(took[slow]!);

  const page = await signedIn(base, operatorToken);
  const chart = page.getByRole('figure', { name: /Duration and model spend of the 3 runs listed/ });
  for (const width of [1400, 800]) {
    await page.setViewportSize({ width, height: 900 });
    const svg = chart.getByRole('img');
    await expect.poll(() => svg.count()).toBe(1);
    // Each run a bar in each panel, the longest run the tallest duration bar, only the spending run with a spend bar.
    const heights = async (panel: string) =>
      Object.fromEntries(
        await chart
          .locator(`.chart-${panel} rect.chart-bar`)
          .evaluateAll((bars) => bars.map((bar) => [bar.getAttribute('data-bar-id'), Number(bar.getAttribute('height'))] as const)),
      );
    await expect.poll(async () => Object.keys(await heights('duration')).length).toBe(3);
    // Each as tall as its share of the longest run's duration, as the API gives them.
    const durations = await heights('duration');
    const longest = Math.max(...Object.values(took));
    for (const [runId, ms] of Object.entries(took)) expect(Math.abs(durations[runId]! - (56 * ms) / longest), runId).toBeLessThan(0.5);
    await expect.poll(async () => (await heights('spend'))[spending]).toBe(56);
    expect((await heights('spend'))[quick]).toBe(0);
    expect(await svg.getAttribute('aria-labelledby')).toMatch(/-title .*-description$/);
    expect(await chart.locator('svg desc').textContent()).toMatch(/^3 bars from .* spent on models/);
    await expectNoSidewaysScroll(page);
    // Every bar stays inside the chart's box.
    const box = (await chart.locator('.chart-box').boundingBox())!;
    for (const bar of await chart.locator('rect.chart-bar').all()) {
      const drawn = (await bar.boundingBox()) ?? { x: box.x, width: 0 };
      expect(drawn.x + drawn.width).toBeLessThanOrEqual(box.x + box.width + 0.5);
    }
    if (width === 1400) await screenshot(page, 'runs-chart', { docs: 'dashboard-runs-chart.png' });
  }
  // The same figures as text: a table under the chart, the run's state written out.
  await chart.getByText('As a table').click();
  const row = chart.locator(`tbody tr[data-bar-id="${spending}"] td`);
  expect(await row.allTextContents()).toEqual(['spending', 'succeeded', expect.any(String), expect.stringMatching(/ s$/), expect.stringMatching(/^\$0\.\d+/)]);
  expect(await chart.locator(`tbody tr[data-bar-id="${slow}"] td`).nth(4).textContent()).toBe('—');

  await page.evaluate((target) => (location.hash = target), `#/runs/${spending}/timeline`);
  const itemsChart = page.getByRole('figure', { name: /Time and model spend of the run's 2 items that ran/ });
  for (const width of [1400, 800]) {
    await page.setViewportSize({ width, height: 900 });
    await expect.poll(() => itemsChart.locator('.chart-spend rect.chart-bar').count()).toBe(2);
    const spendHeight = (itemId: string) => itemsChart.locator(`.chart-spend rect[data-bar-id="${itemId}"]`).getAttribute('height');
    expect(await spendHeight('write')).toBe('56');
    expect(await spendHeight('settle')).toBe('0');
    // settle slept 1.5 s: the longer of the two.
    expect(await itemsChart.locator('.chart-duration rect[data-bar-id="settle"]').getAttribute('height')).toBe('56');
    // The axis is the time since the run was submitted.
    expect(await itemsChart.locator('.chart-range span').first().textContent()).toMatch(/^\+\d/);
    await expectNoSidewaysScroll(page);
    if (width === 1400) await screenshot(page, 'run-items-chart', { docs: 'dashboard-run-chart.png' });
  }
});
