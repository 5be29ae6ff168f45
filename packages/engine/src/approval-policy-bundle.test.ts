// A run whose item waited under an approval policy (ADR 0041): its bundle carries each vote's
// entry, and the verifier passes it (hash chain, proofs, completeness), on SQLite and PostgreSQL.
import type { AuditActor } from '@cairn/core';
import { keyIdOf, verifyBundle } from '@cairn/audit';
import { createInMemoryAuditAnchor } from '@cairn/conformance/mocks';
import { describe, expect, test } from 'vitest';
import { ana, backends, engineHarness } from './engine.test-support.ts';

const bo: AuditActor = { kind: 'user', id: 'bo', via: 'http' };
const cy: AuditActor = { kind: 'token', id: 'token:cy', via: 'cli' };

describe.each(backends)('on %s', (backend) => {
  const { engineWith } = engineHarness(backend);

  test('a run approved by two votes under a policy has a bundle that carries the votes and verifies', async () => {
    const anchor = createInMemoryAuditAnchor();
    const { engine, signer } = await engineWith({ anchors: [anchor] });
    engine.start();
    const { runId } = engine.submit(
      {
        version: 1,
        name: 'two-approvers',
        items: [{ id: 'deploy', approval: { required: 2, from: ['release-managers'] }, runtime: { kind: 'command', argv: ['true'] } }],
      },
      { actor: ana },
    );
    engine.approve(runId, 'deploy', bo, 'read it', { roles: ['release-managers'] });
    engine.approve(runId, 'deploy', cy, undefined, { roles: ['release-managers'] });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    const bundle = await engine.exportBundle(runId);
    expect(bundle.entries.filter((entry) => entry.action === 'item.approval-voted').map((entry) => entry.actor.id)).toEqual(['bo', 'token:cy']);
    expect(bundle.entries.find((entry) => entry.action === 'item.approved')?.data).toEqual({ approvers: ['bo', 'token:cy'] });
    const report = await verifyBundle(bundle, { pinnedKeyIds: [keyIdOf(await signer.publicKey())], readAnchor: (receipt) => anchor.read(receipt) });
    expect(report.valid, JSON.stringify(report.checks)).toBe(true);
  });
});
