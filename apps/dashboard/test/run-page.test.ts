// A run's page in Debian's Chromium against a real server: the DAG drawn from the run's spec
// (dependsOn and needs), each item's state written beside its colour and changing live from the
// run's event stream, items reachable with the keyboard, and a failed item's reason.
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

test('the DAG shows every item with its state as text, and the states change live, without a reload', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const runId = await submitRun(api, {
    version: 1,
    name: 'pipeline',
    items: [
      shell('fetch', 'sleep 1'),
      // Long enough to be seen running when the machine is loaded (one run in eight missed it at 3 s).
      shell('build', 'sleep 6', { dependsOn: ['fetch'] }),
      shell('test', 'true', { dependsOn: ['build'] }),
      shell('lint', 'echo "lint: 2 problems in src/index.ts" >&2; exit 3'),
      shell('report', 'true', { dependsOn: ['lint', 'test'] }),
    ],
  });
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  const node = (itemId: string) => page.locator(`svg.dag [data-item-id="${itemId}"]`);
  await expect.poll(() => page.locator('svg.dag .dag-item').count()).toBe(5);
  await expect.poll(() => page.locator('svg.dag .edge').count()).toBe(4);
  // The state is written in each box, not only its colour.
  // Both read at one moment: the run goes on meanwhile (report turns skipped once lint fails).
  const [written, state] = await node('report').evaluate((box) => [box.querySelector('.item-state')?.textContent, box.getAttribute('data-state')]);
  expect(written).toBe(state);
  // Its state, then what it adds once started (`build: running, 227 ms`): build may start before this line on a loaded machine.
  expect(await node('build').getAttribute('aria-label')).toMatch(/^build: [a-z-]+(, [^,]+)?$/);
  // Prerequisites sit left of what depends on them.
  const left = async (itemId: string) => (await node(itemId).boundingBox())!.x;
  expect(await left('fetch')).toBeLessThan(await left('build'));
  expect(await left('test')).toBeLessThan(await left('report'));
  await page.evaluate(() => ((window as unknown as { stillTheSamePage: boolean }).stillTheSamePage = true));

  await expect.poll(() => node('build').getAttribute('data-state'), { timeout: 30_000 }).toBe('running');
  expect(await node('build').locator('.item-state').textContent()).toBe('running');
  expect(await node('test').getAttribute('data-state')).toBe('blocked');
  await screenshot(page, 'run-live', { docs: 'dashboard-run.png' });
  await expect.poll(() => node('build').getAttribute('data-state'), { timeout: 30_000 }).toBe('succeeded');
  await expect.poll(() => node('test').getAttribute('data-state'), { timeout: 30_000 }).toBe('succeeded');
  await expect.poll(() => node('lint').getAttribute('data-state')).toBe('failed');
  await expect.poll(() => node('report').getAttribute('data-state')).toBe('skipped');
  await expect.poll(() => page.locator('h1 .state-badge').textContent()).toBe('failed');
  expect(await page.evaluate(() => (window as unknown as { stillTheSamePage?: boolean }).stillTheSamePage)).toBe(true);
  await runReaches(api, runId);
  await screenshot(page, 'run-ended');
});

test('items are reached with Tab and opened with Enter; a failed item shows why it failed', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const runId = await submitRun(api, {
    version: 1,
    name: 'breaks',
    priority: 4,
    items: [shell('setup', 'true'), shell('compile', 'echo "error: missing semicolon at main.c:7" >&2; exit 2', { dependsOn: ['setup'] })],
  });
  await runReaches(api, runId);
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  await expect.poll(() => page.locator('svg.dag [data-item-id="compile"]').getAttribute('data-state')).toBe('failed');
  // An ended run has no more events: the page says so rather than wait on a stream for ever.
  await expect.poll(() => page.locator('h1 .live').textContent()).toBe('ended');
  expect(await page.locator('.run-facts .run-priority').textContent()).toBe('4');
  await page.locator('svg.dag [data-item-id="setup"]').focus();
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-item-id'))).toBe('compile');
  await page.keyboard.press('Enter');
  await expect.poll(() => page.url()).toMatch(new RegExp(`#/runs/${runId}/items/compile$`));
  const panel = page.getByRole('region', { name: 'Item compile' });
  await expect.poll(() => panel.locator('.failure').textContent()).toContain('CAIRN_EXIT_NONZERO');
  expect(await panel.locator('.failure .stderr').textContent()).toContain('error: missing semicolon at main.c:7');
  await screenshot(page, 'run-failed-item');
  // A succeeded item that changed nothing says so; the page never asks for a patch that is not there.
  await page.locator('svg.dag [data-item-id="setup"]').focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.getByRole('region', { name: 'Item setup' }).getByText('It changed nothing: no patch.').isVisible()).toBe(true);
});
