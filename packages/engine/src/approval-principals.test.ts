// Approval policies count principals, not credentials (ADR 0046), on SQLite and PostgreSQL: two
// actors of one principal are one approver; the submitter's other token is the submitter; an
// approval whose principal's access lapsed is dropped when the next vote is counted, the item waits
// and its vote entry says why, and the lapsed principal may vote again; one that lapses while the
// item is ready, before it starts, pulls it back to waiting.
import type { AuditActor } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { backends, engineHarness } from './engine.test-support.ts';

const token = (id: string): AuditActor => ({ kind: 'token', id: `token:${id}`, via: 'http' });
const approvers = { roles: ['approver'] };
const policy = { required: 2, from: ['approver'] };
const twoApprovals = { version: 1, name: 'release', items: [{ id: 'deploy', approval: policy, runtime: { kind: 'command', argv: ['true'] } }] };

/** The error `work` throws, as code and message. */
function refusal(work: () => void): { code: string; message: string } {
  try {
    work();
  } catch (error) {
    if (isCairnError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  return expect.unreachable('the vote was counted');
}

describe.each(backends)('on %s', (backend) => {
  const { engineWith } = engineHarness(backend);

  test("two tokens of one principal are one approver: the second token's vote is refused and the item waits", async () => {
    const { engine } = await engineWith();
    const { runId } = engine.submit(twoApprovals, { actor: token('sam') });
    engine.approve(runId, 'deploy', token('hal-1'), undefined, { ...approvers, principal: 'hal' });
    const second = refusal(() => engine.approve(runId, 'deploy', token('hal-2'), undefined, { ...approvers, principal: 'hal' }));
    expect(second.code).toBe('CAIRN_APPROVAL_DUPLICATE');
    expect(second.message).toContain('token:hal-2 belongs to hal, who already voted');
    expect(engine.items(runId)[0]!.state).toBe('awaiting-approval');
    const [approval] = await engine.reads.approvals(runId);
    expect(approval!.votes.map((vote) => [vote.actor.id, vote.principal])).toEqual([['token:hal-1', 'hal']]);
  });

  test("the submitter's other token is the submitter: refused without selfApproval", async () => {
    const { engine } = await engineWith();
    const { runId } = engine.submit(twoApprovals, { actor: token('sam-1') });
    const self = refusal(() => engine.approve(runId, 'deploy', token('sam-2'), undefined, { ...approvers, principal: 'sam', submitterPrincipal: 'sam' }));
    expect(self).toMatchObject({ code: 'CAIRN_APPROVAL_NOT_ALLOWED' });
    expect(self.message).toContain('token:sam-2 belongs to sam, who submitted run');
  });

  test('an approval whose access lapsed no longer counts: the item waits, says why, and runs on a fresh approval', async () => {
    const { engine } = await engineWith();
    engine.start();
    const { runId } = engine.submit(twoApprovals, { actor: token('sam') });
    engine.approve(runId, 'deploy', token('ana'), 'looked', { ...approvers, principal: 'ana' });
    const lapsed = [{ principal: 'ana', reason: 'access revoked at 2026-11-28T00:00:00.000Z' }];
    engine.approve(runId, 'deploy', token('bo'), undefined, { ...approvers, principal: 'bo', lapsed });
    expect(engine.items(runId)[0]!.state).toBe('awaiting-approval');
    const vote = engine.audit
      .runEntries(runId)
      .filter((entry) => entry.action === 'item.approval-voted')
      .at(-1)!;
    expect(vote.data).toMatchObject({
      decision: 'approve',
      principal: 'bo',
      approvals: 1,
      required: 2,
      lapsed: [{ principal: 'ana', message: 'approval by ana no longer counts: access revoked at 2026-11-28T00:00:00.000Z' }],
    });
    expect((await engine.reads.approvals(runId))[0]!.votes.map((entry) => entry.principal)).toEqual(['bo']);
    // With access again (a new token), ana may vote again: her dropped vote is no duplicate.
    engine.approve(runId, 'deploy', token('ana-2'), undefined, { ...approvers, principal: 'ana' });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    expect(engine.audit.runEntries(runId).find((entry) => entry.action === 'item.approved')?.data).toEqual({ approvers: ['bo', 'ana'] });
  });

  test('an approval that lapses while the item is ready no longer counts: it waits again, says why, and runs on a third approval', async () => {
    const { engine } = await engineWith();
    const { runId } = engine.submit(twoApprovals, { actor: token('sam') });
    engine.approve(runId, 'deploy', token('ana'), undefined, { ...approvers, principal: 'ana' });
    engine.approve(runId, 'deploy', token('bo'), undefined, { ...approvers, principal: 'bo' });
    // Not started: approved, it waits for a dispatch slot.
    expect(engine.items(runId)[0]!.state).toBe('ready');
    expect(engine.lapseApprovals('ana', 'access revoked at 2026-11-28T00:00:00.000Z', token('admin'))).toBe(1);
    expect(engine.items(runId)[0]!.state).toBe('awaiting-approval');
    const requested = engine.audit
      .runEntries(runId)
      .filter((entry) => entry.action === 'item.approval-requested')
      .at(-1)!;
    expect(requested.actor.id).toBe('token:admin');
    expect(requested.data).toMatchObject({
      approvals: 1,
      required: 2,
      lapsed: [{ principal: 'ana', message: 'approval by ana no longer counts: access revoked at 2026-11-28T00:00:00.000Z' }],
    });
    expect((await engine.reads.approvals(runId))[0]!.votes.map((vote) => vote.principal)).toEqual(['bo']);
    // Dispatching now starts nothing: the item waits for another approval.
    engine.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(engine.items(runId)[0]!.state).toBe('awaiting-approval');
    expect(engine.attempts(runId, 'deploy')).toEqual([]);
    engine.approve(runId, 'deploy', token('cy'), undefined, { ...approvers, principal: 'cy' });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    expect(engine.audit.runEntries(runId).findLast((entry) => entry.action === 'item.approved')?.data).toEqual({ approvers: ['bo', 'cy'] });
  });
});
