// Approval policies (ADR 0041) over HTTP, as people with tokens of their own vote: two of three
// approvers with the role the policy names, the submitter (who holds it too) and someone without it
// refused, a second vote refused, a rejection without a reason refused; the items' `approval` and
// what `cairn approve` prints from the answers.
import { createCairnClient, type ItemView } from '@cairn/client';
import { isCairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { approvalProgress } from '../cli/approval-progress.ts';
import { runningServers } from './running-server.test-support.ts';

const serve = runningServers();

test(
  'an item under a 2-of-N policy waits for two distinct approvers with the role, and refuses the submitter, an outsider and a second vote',
  { timeout: 30_000 },
  async () => {
    const { base, operatorToken, composition } = await serve();
    const operator = createCairnClient({ baseUrl: base, token: operatorToken });
    const person = async (name: string, ...extra: string[]) => {
      // Each person's token is made for them (principal), so each counts as one approver.
      const { token, record } = await operator.createToken(name, ['runs:read', 'runs:approve', ...extra], { principal: name });
      // A token acts as `token:<id>`, which is what the votes name.
      return { id: `token:${record.id}`, client: createCairnClient({ baseUrl: base, token }) };
    };
    const sam = await person('sam', 'runs:submit', 'role:approver');
    const ana = await person('ana', 'role:approver');
    const bo = await person('bo', 'role:approver');
    const cy = await person('cy');
    const policy = { required: 2, from: ['approver'] };
    const { runId } = await sam.client.submit({
      version: 1,
      name: 'release',
      items: [
        { id: 'deploy', approval: policy, runtime: { kind: 'command', argv: ['/bin/true'] } },
        { id: 'hold', approval: policy, runtime: { kind: 'command', argv: ['/bin/true'] } },
      ],
    });
    const refusal = (promise: Promise<unknown>) =>
      promise.then(
        () => expect.unreachable('the vote was counted'),
        (error: unknown) => (isCairnError(error) ? { code: error.code, status: error.status, message: error.message } : error),
      );

    expect(await refusal(sam.client.approve(runId, 'deploy'))).toMatchObject({ code: 'CAIRN_APPROVAL_NOT_ALLOWED', status: 403 });
    const outsider = await refusal(cy.client.approve(runId, 'deploy'));
    expect(outsider).toMatchObject({ code: 'CAIRN_APPROVAL_NOT_ALLOWED', status: 403 });
    expect((outsider as Error).message).toContain('counts votes only from approver');

    const first = await ana.client.approve(runId, 'deploy', 'checked the diff');
    expect(first).toMatchObject({
      state: 'awaiting-approval',
      approval: {
        required: 2,
        from: ['approver'],
        selfApproval: false,
        onTimeout: 'reject',
        approvals: 1,
        needed: 1,
        votes: [{ actor: ana.id, principal: 'ana', decision: 'approve', reason: 'checked the diff' }],
      },
    });
    expect(approvalProgress('approved', runId, first)).toBe(
      `approved: item deploy of run ${runId}\n1 of 2 approvals (${ana.id}); waiting for 1 more from approver, not the submitter`,
    );
    expect(await refusal(ana.client.approve(runId, 'deploy'))).toMatchObject({ code: 'CAIRN_APPROVAL_DUPLICATE', status: 409 });

    const second = await bo.client.approve(runId, 'deploy');
    expect(second.state).not.toBe('awaiting-approval');
    expect(second.approval).toMatchObject({ approvals: 2, needed: 0 });
    expect(approvalProgress('approved', runId, second)).toContain(`2 of 2 approvals (${ana.id}, ${bo.id}); the item is`);

    expect(await refusal(bo.client.reject(runId, 'hold'))).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', status: 400 });
    const rejected = await bo.client.reject(runId, 'hold', 'not in this release');
    expect(rejected).toMatchObject({ state: 'failed', approval: { needed: 0, votes: [{ actor: bo.id, decision: 'reject', reason: 'not in this release' }] } });

    const items = Object.fromEntries((await operator.items(runId)).map((item: ItemView) => [item.itemId, item.approval]));
    expect(items['deploy']?.votes.map((vote) => vote.actor)).toEqual([ana.id, bo.id]);
    const votes = composition.engine.audit.runEntries(runId).filter((entry) => entry.action === 'item.approval-voted');
    expect(votes.map((entry) => [entry.actor.id, entry.data['decision'], entry.data['as']])).toEqual([
      [ana.id, 'approve', ['approver']],
      [bo.id, 'approve', ['approver']],
      [bo.id, 'reject', ['approver']],
    ]);
    await operator.cancel(runId).catch(() => {});
  },
);
