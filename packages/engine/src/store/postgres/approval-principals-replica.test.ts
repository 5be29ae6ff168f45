// A vote cast at a replica that does not run the engine (ADR 0046) crosses engine_commands with
// the voter's principal, the submitter's and the lapsed approvals, and the leader counts them as the
// engine in its own process does: one vote per principal, lapsed approvals dropped and said.
import { setTimeout as sleep } from 'node:timers/promises';
import { createInMemoryCipher, createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import type { AuditActor } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { afterAll, expect, test } from 'vitest';
import { harnessTask } from '../../engine.test-support.ts';
import { createPostgresEngineLeader, type PostgresEngineLeader } from '../postgres-engine-leader.ts';
import { createPostgresEngineService, type PostgresEngineService } from './postgres-engine-service.ts';
import { createPostgresStateStore } from './postgres-state-store.ts';
import { createTestDatabase } from './postgres.test-support.ts';

const database = await createTestDatabase();
const leaders: PostgresEngineLeader[] = [];
const services: PostgresEngineService[] = [];
afterAll(async () => {
  for (const service of services) await service.close();
  for (const leader of leaders) await leader.stop();
  await database.drop();
}, 120_000);

/** Two replicas: A runs the engine, B does not; B's service is the one under test. */
async function follower(): Promise<PostgresEngineService> {
  const storage = createInMemoryStorageProvider();
  const signer = createInMemorySigner();
  const cipher = createInMemoryCipher();
  const executor = createInMemoryExecutor({ run: harnessTask(storage, new Map(), new Map()) });
  const replica = (instanceId: string) => {
    const store = createPostgresStateStore(database.settings);
    const leader = createPostgresEngineLeader({
      store,
      instanceId,
      engine: { executors: { local: executor }, storage, signer, cipher, reconcileIntervalMs: 20, inboxPollMs: false },
    });
    leaders.unshift(leader);
    const service = createPostgresEngineService({ state: database.settings, store, leader, cipher });
    services.push(service);
    leader.start();
    return { leader, service };
  };
  const a = replica('replica-a');
  while (!a.leader.engine) await sleep(10);
  return replica('replica-b').service;
}

const token = (id: string): AuditActor => ({ kind: 'token', id: `token:${id}`, via: 'http' });
const approvers = { roles: ['approver'] };

test('through a follower: a principal votes once, and an approval that lapsed is dropped and said', { timeout: 60_000 }, async () => {
  const service = await follower();
  const { runId } = await service.submit(
    { version: 1, name: 'release', items: [{ id: 'deploy', approval: { required: 2, from: ['approver'] }, runtime: { kind: 'command', argv: ['true'] } }] },
    { actor: token('sam') },
  );
  await service.approve(runId, 'deploy', token('ana-1'), undefined, { ...approvers, principal: 'ana' });
  const second = await service.approve(runId, 'deploy', token('ana-2'), undefined, { ...approvers, principal: 'ana' }).then(
    () => expect.unreachable('the vote was counted'),
    (error: unknown) => error,
  );
  expect(isCairnError(second, 'CAIRN_APPROVAL_DUPLICATE'), String(second)).toBe(true);
  const self = await service.approve(runId, 'deploy', token('sam-2'), undefined, { ...approvers, principal: 'sam', submitterPrincipal: 'sam' }).then(
    () => expect.unreachable('the vote was counted'),
    (error: unknown) => error,
  );
  expect(isCairnError(self, 'CAIRN_APPROVAL_NOT_ALLOWED'), String(self)).toBe(true);

  const lapsed = [{ principal: 'ana', reason: 'access revoked at 2026-11-28T00:00:00.000Z' }];
  await service.approve(runId, 'deploy', token('bo'), undefined, { ...approvers, principal: 'bo', lapsed });
  expect((await service.items(runId))[0]!.state).toBe('awaiting-approval');
  expect((await service.approvals(runId))[0]!.votes.map((vote) => vote.principal)).toEqual(['bo']);
  const entries = [];
  for await (const entry of service.auditEntries({ runId, action: 'item.approval-voted' })) entries.push(entry);
  expect(entries.at(-1)!.data).toMatchObject({
    approvals: 1,
    lapsed: [{ principal: 'ana', message: `approval by ana no longer counts: ${lapsed[0]!.reason}` }],
  });
});
