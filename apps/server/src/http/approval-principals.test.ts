// Approval policies count principals, not tokens (ADR 0046), through the real server: a token made
// for no one named belongs to its maker, so one holder's two tokens are one approver, and so are
// two dashboard sessions from sign-in links they made; the submitter's other token is the
// submitter; an approver whose token is revoked before the item starts no longer counts, and the
// item waits and says why, also when it was revoked after the last vote while the item was ready for
// a slot; a vote through a session stands when the next vote is counted.
import { createCairnClient } from '@cairn/client';
import type { RunSpecV1 } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { dashboardSignIn } from '../capabilities/access/dashboard-sign-in.ts';
import { runningServers } from './running-server.test-support.ts';

const serve = runningServers();
const policy = { required: 2, from: ['approver'] };
const release: RunSpecV1 = { version: 1, name: 'release', items: [{ id: 'deploy', approval: policy, runtime: { kind: 'command', argv: ['/bin/true'] } }] };

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable('the vote was counted'),
    (error: unknown) => (isCairnError(error) ? { code: error.code, status: error.status, message: error.message } : error),
  );

/** The server, its operator, and a way to make a token of someone's (its principal given) with a client of its own. */
async function started(config?: Record<string, unknown>) {
  const { base, operatorToken, composition } = await serve('tokens', config === undefined ? {} : { config });
  const operator = createCairnClient({ baseUrl: base, token: operatorToken });
  const tokenOf = async (principal: string, scopes: string[], maker = operator) => {
    const { token, record } = await maker.createToken(`${principal}-${scopes.length}`, scopes, principal === '' ? {} : { principal });
    return { id: `token:${record.id}`, tokenId: record.id, record, client: createCairnClient({ baseUrl: base, token }) };
  };
  return { base, operator, tokenOf, composition };
}

test('one holder who makes two approver tokens for themselves is one approver: the second vote is refused, the item waits', { timeout: 30_000 }, async () => {
  const { tokenOf, operator } = await started();
  const hal = await tokenOf('hal', ['admin']);
  // hal makes two tokens naming no one: both are hal's.
  const first = await tokenOf('', ['runs:approve', 'role:approver'], hal.client);
  const second = await tokenOf('', ['runs:approve', 'role:approver'], hal.client);
  expect([first.record.principal, second.record.principal]).toEqual(['hal', 'hal']);
  expect((await operator.tokens()).filter((token) => token.id === first.tokenId || token.id === second.tokenId).map((token) => token.principal)).toEqual([
    'hal',
    'hal',
  ]);
  const sam = await tokenOf('sam', ['runs:submit', 'runs:read']);
  const { runId } = await sam.client.submit(release);

  expect(await first.client.approve(runId, 'deploy')).toMatchObject({ state: 'awaiting-approval', approval: { approvals: 1, needed: 1 } });
  const duplicate = await refusal(second.client.approve(runId, 'deploy'));
  expect(duplicate).toMatchObject({ code: 'CAIRN_APPROVAL_DUPLICATE', status: 409 });
  expect((duplicate as Error).message).toContain(`${second.id} belongs to hal, who already voted`);
  const [item] = await operator.items(runId);
  expect(item).toMatchObject({ state: 'awaiting-approval', approval: { approvals: 1, needed: 1, votes: [{ actor: first.id, principal: 'hal' }] } });
  await operator.cancel(runId).catch(() => {});
});

test("the submitter's second token is the submitter: its vote is refused without selfApproval", { timeout: 30_000 }, async () => {
  const { tokenOf, operator } = await started();
  const submitting = await tokenOf('sam', ['runs:submit']);
  const approving = await tokenOf('sam', ['runs:approve', 'role:approver']);
  const { runId } = await submitting.client.submit(release);
  const self = await refusal(approving.client.approve(runId, 'deploy'));
  expect(self).toMatchObject({ code: 'CAIRN_APPROVAL_NOT_ALLOWED', status: 403 });
  expect((self as Error).message).toContain(`${approving.id} belongs to sam, who submitted run ${runId}`);
  await operator.cancel(runId).catch(() => {});
});

test('an approver whose token is revoked before the item starts no longer counts: the item waits and says why', { timeout: 30_000 }, async () => {
  const { tokenOf, operator, composition } = await started();
  const sam = await tokenOf('sam', ['runs:submit', 'runs:read']);
  const [ana, bo, cy] = await Promise.all(['ana', 'bo', 'cy'].map((name) => tokenOf(name, ['runs:read', 'runs:approve', 'role:approver'])));
  const { runId } = await sam.client.submit(release);
  await ana!.client.approve(runId, 'deploy', 'checked the diff');
  const revoked = await operator.revokeToken(ana!.tokenId);

  const after = await bo!.client.approve(runId, 'deploy');
  const why = `approval by ana no longer counts: access revoked at ${revoked.revokedAt}`;
  expect(after).toMatchObject({
    state: 'awaiting-approval',
    approval: { approvals: 1, needed: 1, votes: [{ actor: bo!.id, principal: 'bo' }], lapsed: [{ principal: 'ana', message: why }] },
  });
  expect((await operator.items(runId))[0]?.approval?.lapsed).toEqual([expect.objectContaining({ message: why })]);
  // Dropped when the token was revoked, in the entry of the wait it is in; bo's vote found nothing left to drop.
  const wait = composition.engine.audit
    .runEntries(runId)
    .filter((entry) => entry.action === 'item.approval-requested')
    .at(-1)!;
  expect(wait.data).toMatchObject({ approvals: 0, lapsed: [{ principal: 'ana', message: why }] });

  const ran = await cy!.client.approve(runId, 'deploy');
  expect(ran.state).not.toBe('awaiting-approval');
  expect(ran.approval).toMatchObject({ approvals: 2, needed: 0 });
  expect(ran.approval?.lapsed).toBeUndefined();
  expect(composition.engine.audit.runEntries(runId).find((entry) => entry.action === 'item.approved')?.data).toEqual({ approvers: ['bo', 'cy'] });
});

test(
  'an approver whose only token is revoked while the item is ready for a slot no longer counts: it waits again, says why, and runs on a third approval',
  { timeout: 60_000 },
  async () => {
    // One dispatch slot, held by a task that sleeps: the approved item waits in `ready`.
    const { tokenOf, operator, composition } = await started({ engine: { concurrency: 1 } });
    const sam = await tokenOf('sam', ['runs:submit', 'runs:read']);
    const [ana, bo, cy] = await Promise.all(['ana', 'bo', 'cy'].map((name) => tokenOf(name, ['runs:read', 'runs:approve', 'role:approver'])));
    const holder = await sam.client.submit({ version: 1, name: 'holder', items: [{ id: 'hold', runtime: { kind: 'command', argv: ['/bin/sleep', '60'] } }] });
    await expect.poll(async () => (await operator.items(holder.runId))[0]?.state, { timeout: 20_000 }).toBe('running');
    const { runId } = await sam.client.submit(release);
    await ana!.client.approve(runId, 'deploy');
    expect(await bo!.client.approve(runId, 'deploy')).toMatchObject({ state: 'ready' });

    const revoked = await operator.revokeToken(ana!.tokenId);
    const why = `approval by ana no longer counts: access revoked at ${revoked.revokedAt}`;
    const [item] = await operator.items(runId);
    expect(item).toMatchObject({
      state: 'awaiting-approval',
      approval: { approvals: 1, needed: 1, votes: [{ principal: 'bo' }], lapsed: [{ principal: 'ana', message: why }] },
    });
    // The slot frees: the item still waits, for an approval that counts.
    await operator.cancel(holder.runId);
    await operator.waitForRun(holder.runId);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await operator.items(runId))[0]).toMatchObject({ state: 'awaiting-approval' });
    expect(composition.engine.attempts(runId, 'deploy')).toEqual([]);

    await cy!.client.approve(runId, 'deploy');
    expect((await operator.waitForRun(runId)).state).toBe('succeeded');
    expect(composition.engine.audit.runEntries(runId).findLast((entry) => entry.action === 'item.approved')?.data).toEqual({ approvers: ['bo', 'cy'] });
  },
);

test("an admin's two sign-in links are one approver; a session's vote stands when the next vote is counted", { timeout: 30_000 }, async () => {
  const { base, tokenOf, operator, composition } = await started();
  const session = async (code: string) => {
    const answer = await fetch(`${base}/v1/session/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
    expect(answer.status).toBe(200);
    const { token } = (await answer.json()) as { token: string };
    const client = createCairnClient({ baseUrl: base, token });
    // What the dashboard's Sign out does: revokes the session.
    const signOut = async () =>
      expect((await fetch(`${base}/v1/session`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    return Object.assign(client, { signOut });
  };
  const hal = await tokenOf('hal', ['admin']);
  const [first, second] = [await session((await hal.client.createSignInCode()).code), await session((await hal.client.createSignInCode()).code)];
  // A link `cairn dashboard` makes (the CLI writes the store itself) names no one: its session is its own.
  const now = new Date();
  const cliCode = await composition.tokens.create(dashboardSignIn.codeName, ['runs:read', 'runs:approve'], now, {
    oneTime: true,
    expiresAt: new Date(now.getTime() + dashboardSignIn.codeLifetimeMs),
  });
  const local = await session(cliCode.token);
  const sam = await tokenOf('sam', ['runs:submit']);
  const anyone = {
    version: 1,
    name: 'release',
    items: ['deploy', 'hold'].map((id) => ({ id, approval: { required: 2 }, runtime: { kind: 'command', argv: ['/bin/true'] } })),
  };
  const { runId } = await sam.client.submit(anyone as RunSpecV1);

  expect(await first.approve(runId, 'deploy')).toMatchObject({ state: 'awaiting-approval', approval: { votes: [{ principal: 'hal' }] } });
  expect(await refusal(second.approve(runId, 'deploy'))).toMatchObject({ code: 'CAIRN_APPROVAL_DUPLICATE', status: 409 });
  // hal signs out of the session he voted through: his own token still grants the approval, so the vote stands.
  await first.signOut();
  expect((await local.approve(runId, 'deploy')).approval).toMatchObject({ approvals: 2, needed: 0 });

  // The CLI link's session voted on hold; its session signs out, and the next vote still counts it.
  await local.approve(runId, 'hold');
  await local.signOut();
  expect((await second.approve(runId, 'hold')).approval).toMatchObject({ approvals: 2, needed: 0 });
  await operator.cancel(runId).catch(() => {});
});
