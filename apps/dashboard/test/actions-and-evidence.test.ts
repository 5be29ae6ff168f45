// The buttons that change a run, shown only to tokens whose scopes allow them, and the evidence
// of a run with a bundle that downloads and verifies — in Debian's Chromium against a real server.
import { readFileSync } from 'node:fs';
import { verifyBundle } from '@cairn/audit';
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

type Api = (path: string, init?: RequestInit) => Promise<Response>;

async function tokenWith(api: Api, scopes: string[]): Promise<{ token: string; id: string }> {
  const created = await api('/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'browser', scopes }),
  });
  expect(created.status).toBe(201);
  const { token, record } = (await created.json()) as { token: string; record: { id: string } };
  return { token, id: record.id };
}

const gated = {
  version: 1,
  name: 'release',
  items: [shell('prepare', 'true'), shell('deploy', 'echo deployed', { dependsOn: ['prepare'], approval: 'required' })],
};

test('a reviewer approves an item from its button, with a reason the audit log keeps; the run goes on live', async () => {
  const { base, api, composition } = await start('tokens');
  const reviewer = await tokenWith(api, ['runs:read', 'runs:approve']);
  const runId = await submitRun(api, gated);
  const page = await signedIn(base, reviewer.token, `#/runs/${runId}/items/deploy`);
  const node = page.locator('svg.dag [data-item-id="deploy"]');
  await expect.poll(() => node.getAttribute('data-state'), { timeout: 30_000 }).toBe('awaiting-approval');
  const bar = page.getByRole('group', { name: 'Actions on deploy' });
  await expect.poll(() => bar.getByRole('button').allTextContents()).toEqual(['Approve', 'Reject']);
  // No runs:cancel: neither the item's nor the run's cancel button is there.
  expect(await page.getByRole('button', { name: /Cancel/ }).count()).toBe(0);
  await screenshot(page, 'awaiting-approval');
  await bar.getByLabel('Reason (kept in the audit log)').fill('checked the release notes');
  await bar.getByRole('button', { name: 'Approve' }).click();
  await expect.poll(() => node.getAttribute('data-state'), { timeout: 30_000 }).toBe('succeeded');
  await expect.poll(() => page.getByLabel('Output').textContent()).toContain('deployed');
  const approved = [...composition.engine.audit.entries()].find((entry) => entry.action === 'item.approved');
  expect(approved).toMatchObject({ actor: { id: `token:${reviewer.id}`, via: 'http' }, data: { reason: 'checked the release notes' } });
  expect(await page.getByRole('group', { name: 'Actions on deploy' }).count()).toBe(0);
});

test('a token that may only read sees no approve, reject or cancel button, and no evidence', async () => {
  const { base, api } = await start('tokens');
  const viewer = await tokenWith(api, ['runs:read']);
  const runId = await submitRun(api, gated);
  const page = await signedIn(base, viewer.token, `#/runs/${runId}/items/deploy`);
  await expect.poll(() => page.locator('svg.dag [data-item-id="deploy"]').getAttribute('data-state'), { timeout: 30_000 }).toBe('awaiting-approval');
  await expect.poll(() => page.getByRole('region', { name: 'Item deploy' }).isVisible()).toBe(true);
  expect(await page.getByRole('button', { name: /Approve|Reject|Cancel/ }).count()).toBe(0);
  expect(await page.getByRole('link', { name: 'Evidence' }).count()).toBe(0);
});

test('an operator cancels a run from its button', async () => {
  const { base, api, operatorToken } = await start('tokens');
  const runId = await submitRun(api, { version: 1, name: 'long', items: [shell('wait', 'sleep 60')] });
  const page = await signedIn(base, operatorToken, `#/runs/${runId}`);
  await expect.poll(() => page.locator('svg.dag [data-item-id="wait"]').getAttribute('data-state'), { timeout: 30_000 }).toBe('running');
  await page.getByRole('group', { name: 'Actions on the run' }).getByRole('button', { name: 'Cancel the run' }).click();
  await expect.poll(() => page.locator('h1 .state-badge').textContent(), { timeout: 30_000 }).toBe('cancelled');
  expect(await page.locator('svg.dag [data-item-id="wait"]').getAttribute('data-state')).toBe('cancelled');
});

test("a run's evidence shows what its bundle holds, and the bundle downloads and verifies", async () => {
  const { base, api, composition } = await start('tokens');
  const auditor = await tokenWith(api, ['runs:read', 'audit:read']);
  const runId = await submitRun(api, { version: 1, name: 'evidenced', items: [shell('write', 'echo data > out.txt')] });
  await runReaches(api, runId);
  const page = await signedIn(base, auditor.token, `#/runs/${runId}`);
  await page.getByRole('link', { name: 'Evidence' }).click();
  const evidence = page.getByRole('region', { name: 'Evidence' });
  await expect.poll(() => evidence.locator('.bundle-facts').textContent(), { timeout: 30_000 }).toContain('run.submitted ×1');
  expect(await evidence.locator('.bundle-facts').textContent()).toContain('write #1 patch');
  await screenshot(page, 'evidence');
  const download = page.waitForEvent('download');
  await evidence.getByRole('button', { name: 'Download the bundle' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe(`${runId}.bundle.json`);
  const bytes = new Uint8Array(readFileSync((await file.path())!));
  const report = await verifyBundle(bytes, { trustedKeys: [composition.signingKey], readAnchor: (receipt) => composition.anchors[0]!.read(receipt) });
  expect(report).toMatchObject({ valid: true });
});
