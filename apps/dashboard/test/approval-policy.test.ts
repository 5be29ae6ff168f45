// An item under an approval policy (ADR 0041) in Debian's Chromium against a real server: the item
// shows who approved and who it still waits for, and a second approver's click releases it.
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

type Api = (path: string, init?: RequestInit) => Promise<Response>;

async function approver(api: Api, name: string): Promise<{ token: string; actor: string; tokenId: string }> {
  const created = await api('/v1/tokens', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // Made for the person (principal): a token made for no one would be the operator's, and two of
    // the operator's tokens are one approver (ADR 0046).
    body: JSON.stringify({ name, scopes: ['runs:read', 'runs:approve', 'role:approver'], principal: name }),
  });
  expect(created.status).toBe(201);
  const { token, record } = (await created.json()) as { token: string; record: { id: string } };
  return { token, actor: `token:${record.id}`, tokenId: record.id };
}

test('an item under a 2-of-N policy shows who approved and who it waits for; the second approval releases it', async () => {
  const { base, api } = await start('tokens');
  const [ana, bo] = [await approver(api, 'ana'), await approver(api, 'bo')];
  const runId = await submitRun(api, {
    version: 1,
    name: 'release',
    items: [shell('deploy', 'echo deployed', { approval: { required: 2, from: ['approver'] } })],
  });
  const first = await fetch(`${base}/v1/runs/${runId}/items/deploy/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ana.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'read the diff' }),
  });
  expect(first.status).toBe(202);

  const page = await signedIn(base, bo.token, `#/runs/${runId}/items/deploy`);
  const votes = page.getByRole('note', { name: 'Approvals' });
  await expect.poll(() => votes.locator('.approval-tally').textContent()).toBe('1 of 2 approvals · waiting for 1 more from approver (not the submitter)');
  expect(await votes.locator('li').getAttribute('data-actor')).toBe(ana.actor);
  expect(await votes.locator('li').textContent()).toMatch(new RegExp(`^${ana.actor} approved .+: read the diff$`));
  await screenshot(page, 'approval-policy-waiting');

  await page.getByRole('group', { name: 'Actions on deploy' }).getByRole('button', { name: 'Approve' }).click();
  await expect.poll(() => page.locator('svg.dag [data-item-id="deploy"]').getAttribute('data-state'), { timeout: 30_000 }).toBe('succeeded');
  await expect.poll(() => votes.locator('.approval-tally').textContent()).toBe('2 of 2 approvals');
  expect(await votes.locator('li').evaluateAll((items) => items.map((item) => item.getAttribute('data-actor')))).toEqual([ana.actor, bo.actor]);
});

test('an approval whose token was revoked shows as no longer counting, and the item keeps waiting', async () => {
  const { base, api } = await start('tokens');
  const [ana, bo, cy] = [await approver(api, 'ana'), await approver(api, 'bo'), await approver(api, 'cy')];
  const runId = await submitRun(api, {
    version: 1,
    name: 'release',
    items: [shell('deploy', 'echo deployed', { approval: { required: 2, from: ['approver'] } })],
  });
  const approve = (who: { token: string }) =>
    fetch(`${base}/v1/runs/${runId}/items/deploy/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/json' },
      body: '{}',
    });
  expect((await approve(ana)).status).toBe(202);
  const revoked = (await (await api(`/v1/tokens/${ana.tokenId}`, { method: 'DELETE' })).json()) as { revokedAt: string };
  expect((await approve(bo)).status).toBe(202);

  const page = await signedIn(base, cy.token, `#/runs/${runId}/items/deploy`);
  const votes = page.getByRole('note', { name: 'Approvals' });
  await expect.poll(() => votes.locator('.approval-tally').textContent()).toBe('1 of 2 approvals · waiting for 1 more from approver (not the submitter)');
  const lapsed = votes.getByRole('list', { name: 'Approvals that no longer count' }).locator('li');
  expect(await lapsed.getAttribute('data-principal')).toBe('ana');
  expect(await lapsed.textContent()).toBe(`approval by ana no longer counts: access revoked at ${revoked.revokedAt}`);
  await screenshot(page, 'approval-policy-lapsed');
});
