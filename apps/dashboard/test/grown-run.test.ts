// A run that grows (ADR 0034) on its page in Debian's Chromium: a planner item's fragment joins the
// graph live, each added item hanging off its planner, without a reload.
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

test("a planner's items appear in the graph as it emits them, drawn from it, and what waited on it runs last", async () => {
  const { base, api, operatorToken } = await start('tokens');
  const fragment = { items: ['lint', 'test', 'docs'].map((id) => ({ id, runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 1'] } })) };
  const runId = await submitRun(api, {
    version: 1,
    name: 'grows',
    items: [
      // Sleeps first, so the page is open before the fragment joins.
      { ...shell('plan', `sleep 2; printf '%s' '${JSON.stringify(fragment)}' > output.json`), emits: { maxItems: 5 } },
      shell('ship', 'true', { dependsOn: ['plan'] }),
    ],
  });
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  const node = (itemId: string) => page.locator(`svg.dag [data-item-id="${itemId}"]`);
  await expect.poll(() => page.locator('svg.dag .dag-item').count()).toBe(2);
  await page.evaluate(() => ((window as unknown as { stillTheSamePage: boolean }).stillTheSamePage = true));
  await expect.poll(() => page.locator('svg.dag .dag-item').count(), { timeout: 30_000 }).toBe(5);
  // plan → ship, and plan → each item it added.
  expect(await page.locator('svg.dag .edge').count()).toBe(4);
  const left = async (itemId: string) => (await node(itemId).boundingBox())!.x;
  for (const itemId of ['plan/lint', 'plan/test', 'plan/docs']) expect(await left('plan')).toBeLessThan(await left(itemId));
  await screenshot(page, 'run-grown', { docs: 'dashboard-grown-run.png' });
  await runReaches(api, runId);
  await expect.poll(() => node('ship').getAttribute('data-state'), { timeout: 30_000 }).toBe('succeeded');
  expect(await page.evaluate(() => (window as unknown as { stillTheSamePage?: boolean }).stillTheSamePage)).toBe(true);
});
