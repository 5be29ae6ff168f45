// A run that grows (ADR 0034) on its page in Debian's Chromium, drawn from the run's graph
// (GET /v1/runs/{runId}/graph): a small fragment joins with its own dependency and its join to
// what waited on its planner; a fragment above the collapsing size is one node with its count and
// states, which expands on a click and collapses again; all live, without a reload.
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { collapseGroupsAbove } from '../src/run/drawn-graph.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

/** A planner that emits `fragment`, once `open` is approved: the test approves it when the page is open, so the page sees the run grow. */
function planner(id: string, fragment: object): Record<string, unknown> {
  return { ...shell(id, `printf '%s' '${JSON.stringify(fragment)}' > output.json`, { dependsOn: ['open'] }), emits: { maxItems: 20 } };
}

test("a grown run's graph: a fragment's own edges and join, a large fragment collapsed to one node that expands and collapses, live", async () => {
  const { base, api, operatorToken } = await start('tokens');
  const many = collapseGroupsAbove + 2;
  const runId = await submitRun(api, {
    version: 1,
    name: 'grows',
    items: [
      shell('open', 'true', { approval: 'required' }),
      planner('plan', { items: Array.from({ length: many }, (_, index) => shell(`step-${index}`, 'true')) }),
      // A small fragment with a dependency inside it: test waits on lint.
      planner('triage', { items: [shell('lint', 'sleep 1'), shell('test', 'true', { dependsOn: ['lint'] })] }),
      shell('ship', 'true', { dependsOn: ['plan', 'triage'] }),
    ],
  });
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  const node = (itemId: string) => page.locator(`svg.dag [data-item-id="${itemId}"]`);
  const group = page.locator('svg.dag [data-group-id="plan"]');
  const edge = (from: string, to: string, kind: string) => page.locator(`svg.dag .edge[data-from="${from}"][data-to="${to}"][data-kind="${kind}"]`);
  await expect.poll(() => page.locator('svg.dag .dag-item').count()).toBe(4);
  await page.evaluate(() => ((window as unknown as { stillTheSamePage: boolean }).stillTheSamePage = true));
  await expect
    .poll(
      async () => ((await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; state: string }[]).find((item) => item.itemId === 'open')?.state,
      {
        timeout: 30_000,
      },
    )
    .toBe('awaiting-approval');
  const approved = await api(`/v1/runs/${runId}/items/open/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(approved.status, await approved.clone().text()).toBe(202);
  // The spec's four items, triage's two, and plan's as one node.
  await expect.poll(() => page.locator('svg.dag .dag-item').count(), { timeout: 30_000 }).toBe(7);
  await expect.poll(() => group.count()).toBe(1);
  expect(await page.locator('svg.dag [data-item-id^="plan/"]').count()).toBe(0);
  // The fragment's own dependency, its join to what waited on its planner, and its first item hanging off the planner.
  await expect.poll(() => edge('triage/lint', 'triage/test', 'dependency').count()).toBe(1);
  expect(await edge('triage/test', 'ship', 'join').count()).toBe(1);
  expect(await edge('triage', 'triage/lint', 'emitted').count()).toBe(1);
  expect(await edge('triage/lint', 'ship', 'join').count()).toBe(0);
  // The collapsed group hangs off its planner and joins ship, once each.
  expect(await edge('plan', 'plan/*', 'emitted').count()).toBe(1);
  expect(await edge('plan/*', 'ship', 'join').count()).toBe(1);
  const left = async (locator: ReturnType<typeof node>) => (await locator.boundingBox())!.x;
  expect(await left(node('plan'))).toBeLessThan(await left(group));
  expect(await left(node('triage/lint'))).toBeLessThan(await left(node('triage/test')));
  expect(await left(node('triage/test'))).toBeLessThan(await left(node('ship')));
  await expect.poll(() => group.locator('text').allTextContents(), { timeout: 30_000 }).toEqual([`${many} items from plan`, `${many} succeeded`, 'expand']);
  await expect.poll(() => group.getAttribute('aria-label'), { timeout: 30_000 }).toBe(`plan: ${many} items: ${many} succeeded. Expand`);
  await screenshot(page, 'run-grown', { docs: 'dashboard-grown-run.png' });

  // A click expands it: each of its items drawn, off the planner, joining ship.
  await group.click();
  await expect.poll(() => page.locator('svg.dag [data-item-id^="plan/"]').count()).toBe(many);
  expect(await group.count()).toBe(0);
  expect(await edge('plan', 'plan/step-0', 'emitted').count()).toBe(1);
  expect(await edge(`plan/step-${many - 1}`, 'ship', 'join').count()).toBe(1);
  await screenshot(page, 'run-grown-expanded');
  // Every edge is drawn inside the drawing, plan → ship too (it skips the ranks of plan's items
  // and is routed around them): none runs out of the SVG's box and is cut off.
  const cutOff = await page.locator('svg.dag').evaluate((svg) => {
    const drawing = svg.getBoundingClientRect();
    return [...svg.querySelectorAll('.edge')].flatMap((edge) => {
      const box = edge.getBoundingClientRect();
      const inside = box.left >= drawing.left - 1 && box.top >= drawing.top - 1 && box.right <= drawing.right + 1 && box.bottom <= drawing.bottom + 1;
      return inside ? [] : [`${edge.getAttribute('data-from')} → ${edge.getAttribute('data-to')}`];
    });
  });
  expect(await page.locator('svg.dag .edge[data-from="plan"][data-to="ship"]').count()).toBe(1);
  expect(cutOff).toEqual([]);
  // And collapses again from its button.
  await page.getByRole('button', { name: `Collapse plan's ${many} items` }).click();
  await expect.poll(() => group.count()).toBe(1);
  expect(await page.locator('svg.dag [data-item-id^="plan/"]').count()).toBe(0);
  // An item folded in it, opened, shows as the group selected.
  await page.evaluate((hash) => (location.hash = hash), `#/runs/${runId}/items/${encodeURIComponent('plan/step-3')}`);
  await expect.poll(() => group.getAttribute('class')).toMatch(/\bselected\b/);

  await runReaches(api, runId);
  await expect.poll(() => node('ship').getAttribute('data-state'), { timeout: 30_000 }).toBe('succeeded');
  expect(await page.evaluate(() => (window as unknown as { stillTheSamePage?: boolean }).stillTheSamePage)).toBe(true);
});
