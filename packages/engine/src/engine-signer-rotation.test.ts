// The handover to a new signing key (ADR 0019) when the old key's signer fails on the way (a KMS
// key unreachable for a moment): the failure is not a refusal, the handover is tried again and
// completes once, and the loop waits for it rather than stopping or signing with the new key.
import type { SignerV1 } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';
import { storedManifestSignatures } from '@cairn/audit';
import { createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { expect, test } from 'vitest';
import { createEngine, type Engine } from './engine.ts';
import { ana, engineHarness, eventually } from './engine.test-support.ts';

const { databasePath } = engineHarness();

/** A signer that fails its next `failures` signatures the way an unreachable KMS key does. */
function flaky(signer: SignerV1, failures: { count: number }): SignerV1 {
  return {
    specificationVersion: 'v1',
    provider: signer.provider,
    algorithm: signer.algorithm,
    keyId: () => signer.keyId(),
    publicKey: () => signer.publicKey(),
    sign: async (message) => {
      if (failures.count > 0) {
        failures.count--;
        throw new CairnError('CAIRN_SIGNER_FAILED', 'the key could not be reached (test)');
      }
      return signer.sign(message);
    },
  };
}

test('a previous signer that fails mid-handover is retried: the rotation completes once, the loop waits for it', { timeout: 20_000 }, async () => {
  const path = databasePath();
  const storage = createInMemoryStorageProvider();
  const executor = createInMemoryExecutor({ run: async () => 0 });
  const [a, b] = [createInMemorySigner(), createInMemorySigner()];
  const engines: Engine[] = [];
  const engineWith = (signer: SignerV1, previousSigner?: SignerV1) => {
    const engine = createEngine({
      database: path,
      executors: { local: executor },
      storage,
      signer,
      ...(previousSigner ? { previousSigner } : {}),
      reconcileIntervalMs: 20,
      inboxPollMs: false,
    });
    engines.push(engine);
    return engine;
  };
  try {
    const first = engineWith(a);
    first.start();
    await first.waitForRun(
      first.submit({ version: 1, name: 'one', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana }).runId,
    );
    await first.close();

    // Asked directly: the signer's failure comes through as itself, and a second ask completes.
    const failures = { count: 1 };
    const asked = engineWith(b, flaky(a, failures));
    const failed = await asked.checkSigner().catch((error: unknown) => error);
    expect(isCairnError(failed, 'CAIRN_SIGNER_FAILED')).toBe(true);
    expect(await asked.checkSigner()).toMatchObject({ rotated: true, keyId: await b.keyId(), fromKeyId: await a.keyId() });
    expect([...asked.audit.entries()].filter((entry) => entry.action === 'signer.rotated')).toHaveLength(1);
    await asked.close();

    // Through the loop, from a fresh database: it keeps trying, stays ready, then dispatches.
    const again = databasePath();
    const seeded = createEngine({ database: again, executors: { local: executor }, storage, signer: a, reconcileIntervalMs: 20, inboxPollMs: false });
    engines.push(seeded);
    seeded.start();
    await seeded.waitForRun(
      seeded.submit({ version: 1, name: 'one', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana }).runId,
    );
    await seeded.close();
    const loopFailures = { count: 3 };
    const looping = createEngine({
      database: again,
      executors: { local: executor },
      storage,
      signer: b,
      previousSigner: flaky(a, loopFailures),
      reconcileIntervalMs: 20,
      inboxPollMs: false,
    });
    engines.push(looping);
    looping.start();
    const { runId } = looping.submit({ version: 1, name: 'after', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
    expect((await looping.waitForRun(runId)).state).toBe('succeeded');
    await eventually(() => loopFailures.count === 0);
    expect(looping.health().ready).toBe(true);
    const rotated = [...looping.audit.entries()].filter((entry) => entry.action === 'signer.rotated');
    expect(rotated).toHaveLength(1);
    // The run's manifest was signed after the handover, by the new key.
    const bundle = await looping.exportBundle(runId);
    expect(bundle.manifests.map(({ envelope }) => storedManifestSignatures(envelope)[0]!.keyid)).toEqual([await b.keyId()]);
    expect(rotated[0]!.seq).toBeLessThan(bundle.entries.find((entry) => entry.action === 'attempt.dispatched')!.seq);
  } finally {
    for (const engine of engines) await engine.close();
  }
});
