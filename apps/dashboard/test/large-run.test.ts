// A run too large to draw (more than 400 items) lists its items instead, every one with its
// state as text and reachable from the keyboard — in Debian's Chromium against a real server.
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

/** `count` items behind one that awaits approval: nothing runs, the page shows them all waiting. */
function gatedRun(count: number): object {
  return {
    version: 1,
    name: `large-${count}`,
    items: [
      shell('gate', 'true', { approval: 'required' }),
      ...Array.from({ length: count - 1 }, (_, index) => shell(`step-${index}`, 'true', { dependsOn: ['gate'] })),
    ],
  };
}

test('a 1,000-item run lists its items with their states instead of drawing the graph, and each opens', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const runId = await submitRun(api, gatedRun(1_000));
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  const rows = page.locator('table.items tbody tr');
  await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(1_000);
  expect(await page.locator('svg.dag').count()).toBe(0);
  expect(await page.getByText('not drawn above 400 items').isVisible()).toBe(true);
  await expect.poll(() => page.locator('table.items tr[data-item-id="gate"] .state-badge').textContent()).toBe('awaiting-approval');
  expect(await page.locator('table.items tr[data-item-id="step-998"] .state-badge').textContent()).toBe('blocked');
  await screenshot(page, 'large-run');
  await page.locator('table.items tr[data-item-id="step-500"] button').focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.url()).toMatch(new RegExp(`#/runs/${runId}/items/step-500$`));
  await expect.poll(() => page.getByRole('region', { name: 'Item step-500' }).isVisible()).toBe(true);
  // Its timeline says why it is not drawn, rather than that nothing ran.
  await page.getByRole('link', { name: 'Timeline' }).click();
  await expect.poll(() => page.locator('.notice').textContent()).toMatch(/its timeline is not drawn above 400 items/);
});
