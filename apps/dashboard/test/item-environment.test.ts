// A warm environment on an item's page, in Debian's Chromium against a real server (ADR 0056): the
// guide's example runs (one setup for three items, through the local executor's snapshot cache
// and bubblewrap); the page of the item whose attempt ran the setup says it built the environment,
// another's that it reused it, both with the setup's time, and the setup's log opens a click away —
// at 1400 px and at 800 px, where the page does not scroll sideways.
import { expect, test } from 'vitest';
import { createCairnClient } from '../../../packages/client/src/index.ts';
import { guideExample } from '../../server/src/http/guide-example.test-support.ts';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { expectNoSidewaysScroll } from './page-overflow.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();
const { spec, workspace } = guideExample('warm-environments.md', 'app');

test("an item's page shows the environment its attempt ran over, built or reused, and its setup log a click away", { timeout: 150_000 }, async () => {
  const { base, api, operatorToken } = await start('tokens');
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const { runId } = await client.submit(spec('warm-environment'), { workspace: workspace() });
  expect((await client.waitForRun(runId, { signal: AbortSignal.timeout(120_000) })).state).toBe('succeeded');
  const items = (await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; environment: { digest: string; built: boolean; setupMs: number } }[];
  const builder = items.find((item) => item.environment.built)!;
  const reuser = items.find((item) => !item.environment.built)!;
  const { digest, setupMs } = builder.environment;
  const seconds = `${(setupMs / 1_000).toFixed(1)} s`;
  const short = `${digest.slice(0, 19)}…`;

  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/${builder.itemId}`);
  for (const width of [1400, 800]) {
    await page.setViewportSize({ width, height: 900 });
    const region = page.getByRole('region', { name: 'Environment' });
    await expect
      .poll(() => region.locator('.environment-summary').textContent())
      .toBe(`Attempt 1 ran over environment ${short}: it built it, the setup took ${seconds}.`);
    expect(await region.locator('code').getAttribute('title')).toBe(digest);
    // No egress record: the example's setup has no network.
    expect(await region.getByRole('button', { name: "Download the setup's egress record" }).count()).toBe(0);
    await expectNoSidewaysScroll(page);
  }
  const second = await signedIn(base, operatorToken, `#/runs/${runId}/items/${reuser.itemId}`);
  await second.setViewportSize({ width: 800, height: 900 });
  const region = second.getByRole('region', { name: 'Environment' });
  await expect
    .poll(() => region.locator('.environment-summary').textContent())
    .toBe(`Attempt 1 ran over environment ${short}: reused, built before by a setup that took ${seconds}.`);
  await region.getByRole('button', { name: 'Show the setup log' }).click();
  await expect.poll(() => region.getByLabel('Setup log').textContent()).toContain('setup done');
  expect(await region.getByRole('button', { name: 'Hide the setup log' }).getAttribute('aria-expanded')).toBe('true');
  await expectNoSidewaysScroll(second);
  await screenshot(second, 'item-environment-800');
  await second.setViewportSize({ width: 1400, height: 900 });
  await expectNoSidewaysScroll(second);
  await screenshot(second, 'item-environment-1400');
});
