// Manifests signed by a key the checkpoint signer vouches for once (ADR 0020): however many items
// run, the checkpoint signer (a KMS key in production: one remote, rate-limited call each) signs
// one delegation statement and the checkpoints, never a manifest.
import type { DsseEnvelope, KeyDelegation, SignerV1, StoredManifest } from '@cairn/core';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import {
  isBatched,
  keyIdOf,
  openKeyDelegation,
  openStoredManifest,
  signKeyDelegation,
  storedManifestSignatures,
  trustedKeyFrom,
  verifyBundle,
} from '@cairn/audit';
import { canonicalJson, canonicalJsonBytes, delegationKey, manifestKey } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { ana, engineHarness } from '../engine.test-support.ts';

const { databasePath, engineWith } = engineHarness();

/** The checkpoint signer, counting its signatures, and failing the first `failFirst` of them. */
function countingSigner(failFirst = 0) {
  const inner = createInMemorySigner({ algorithm: 'ecdsa-p256-sha256' });
  const counts = { calls: 0, failures: failFirst };
  const signer: SignerV1 = {
    specificationVersion: 'v1',
    provider: 'counting',
    algorithm: inner.algorithm,
    keyId: () => inner.keyId(),
    publicKey: () => inner.publicKey(),
    sign: async (message) => {
      counts.calls++;
      if (counts.failures-- > 0) throw new Error('KMS unreachable');
      return inner.sign(message);
    },
  };
  return { signer, counts };
}

const spec = (items: number) => ({
  version: 1,
  name: 'fan-out',
  concurrency: 8,
  items: Array.from({ length: items }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command', argv: ['true'] } })),
});

async function recordOf(signer: SignerV1) {
  return { keyId: await signer.keyId(), algorithm: signer.algorithm, publicKey: Buffer.from(await signer.publicKey()).toString('base64') };
}

describe('manifestSigner: delegated', () => {
  test('40 items dispatch with one checkpoint-signer call for the delegation (plus checkpoints), every manifest signed by the delegate', async () => {
    const { signer, counts } = countingSigner();
    const { engine, storage } = await engineWith({ signer, manifestSigner: 'delegated', concurrency: 8 });
    engine.start();
    const { runId } = engine.submit(spec(40), { actor: ana });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    const bundle = await engine.exportBundle(runId);
    await engine.stop();
    const entries = [...engine.audit.entries()];
    const checkpoints = entries.filter((entry) => entry.action === 'checkpoint.issued').length;
    const delegated = entries.filter((entry) => entry.action === 'key.delegated');
    expect(delegated).toHaveLength(1);
    expect(checkpoints).toBeGreaterThan(0);
    expect(counts.calls).toBe(1 + checkpoints);

    const signerRecord = await recordOf(signer);
    const delegateKeyId = delegated[0]!.entity.id;
    expect(delegated[0]).toMatchObject({
      entity: { kind: 'key' },
      outcome: 'success',
      data: { purpose: 'dispatch-manifest', delegatedBy: signerRecord.keyId },
    });
    expect(delegateKeyId).not.toBe(signerRecord.keyId);
    // Every manifest: signed by the delegate only, which verifies through the stored statement.
    const statement = JSON.parse(new TextDecoder().decode((await storage.get(delegationKey(delegateKeyId)))!)) as DsseEnvelope;
    const { delegateKey, delegation } = openKeyDelegation(statement, [trustedKeyFrom(signerRecord)], delegateKeyId);
    expect(delegation).toMatchObject({ purpose: 'dispatch-manifest', delegatedBy: signerRecord.keyId, delegate: { algorithm: 'ed25519' } });
    expect(bundle.manifests).toHaveLength(40);
    for (const { digest } of bundle.manifests) {
      const stored = JSON.parse(new TextDecoder().decode((await storage.get(manifestKey(digest)))!)) as StoredManifest;
      expect(storedManifestSignatures(stored).map((signature) => signature.keyid)).toEqual([delegateKeyId]);
      expect(openStoredManifest(stored, [delegateKey]).runId).toBe(runId);
    }
    // The bundle carries the statement, and verifies with only the checkpoint key trusted.
    expect(bundle.delegations).toEqual([statement]);
    expect(bundle.keys.map((key) => key.keyId)).toEqual([signerRecord.keyId]);
    const report = await verifyBundle(bundle, { trustedKeys: [signerRecord] });
    expect(report).toMatchObject({ valid: true, verdict: 'verified' });
    expect(report.checks.find((check) => check.name === 'manifests')!.detail).toMatch(/40 signed manifests.*1 delegated key/);
    // Exported twice, the same bundle.
    expect(await engine.exportBundle(runId)).toEqual(bundle);
  });

  test('a delegation the checkpoint signer fails is tried again on the next pass: the run succeeds with one statement', { timeout: 15_000 }, async () => {
    const { signer, counts } = countingSigner(1);
    const { engine, storage } = await engineWith({ signer, manifestSigner: 'delegated', reconcileIntervalMs: 20 });
    engine.start();
    const { runId } = engine.submit(spec(3), { actor: ana });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    const bundle = await engine.exportBundle(runId);
    await engine.stop();
    const entries = [...engine.audit.entries()];
    expect(entries.filter((entry) => entry.action === 'key.delegated')).toHaveLength(1);
    expect(counts.calls).toBe(2 + entries.filter((entry) => entry.action === 'checkpoint.issued').length);
    expect((await storage.list({ prefix: 'delegations/' })).keys).toHaveLength(1);
    expect((await verifyBundle(bundle, { trustedKeys: [await recordOf(signer)] })).valid).toBe(true);
  });

  test('storage is not trusted at export either: a removed, replaced or corrupted statement never verifies', async () => {
    const { signer } = countingSigner();
    const { engine, storage } = await engineWith({ signer, manifestSigner: 'delegated' });
    engine.start();
    const { runId } = engine.submit(spec(2), { actor: ana });
    await engine.waitForRun(runId);
    const trusted = [await recordOf(signer)];
    const delegateKeyId = [...engine.audit.entries()].find((entry) => entry.action === 'key.delegated')!.entity.id;
    const where = delegationKey(delegateKeyId);
    const genuine = (await storage.get(where))!;
    const manifestsCheck = async () =>
      (await verifyBundle(await engine.exportBundle(runId), { trustedKeys: trusted })).checks.find((check) => check.name === 'manifests')!;

    await storage.delete(where);
    const removed = await engine.exportBundle(runId);
    expect(removed.delegations).toBeUndefined();
    expect(await manifestsCheck()).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^\$\.manifests\[0\]\.envelope: signed by .*not trusted/),
    });

    const impostor = createInMemorySigner();
    const forged = await signKeyDelegation(
      {
        ...(JSON.parse(Buffer.from((JSON.parse(new TextDecoder().decode(genuine)) as DsseEnvelope).payload, 'base64').toString()) as KeyDelegation),
        delegatedBy: await impostor.keyId(),
      },
      impostor,
    );
    await storage.put(where, canonicalJsonBytes(forged));
    expect(await manifestsCheck()).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^\$\.delegations\[0\]: .*No signature of the envelope is by a trusted key/),
    });

    await storage.put(where, new TextEncoder().encode('{"not":"an envelope"}'));
    await expect(engine.exportBundle(runId)).rejects.toMatchObject({ code: 'CAIRN_BUNDLE_INVALID', path: where });

    await storage.put(where, genuine);
    expect((await verifyBundle(await engine.exportBundle(runId), { trustedKeys: trusted })).valid).toBe(true);
  });

  test('each engine process makes its own key: after a restart on the same database the engine delegates again, to a new key', async () => {
    const { signer } = countingSigner();
    const path = databasePath();
    const first = await engineWith({ signer, manifestSigner: 'delegated', path });
    first.engine.start();
    await first.engine.waitForRun(first.engine.submit(spec(1), { actor: ana }).runId);
    await first.engine.close();
    const again = await engineWith({ signer, manifestSigner: 'delegated', path });
    again.engine.start();
    await again.engine.waitForRun(again.engine.submit(spec(1), { actor: ana }).runId);
    const keys = [...again.engine.audit.entries()].filter((entry) => entry.action === 'key.delegated').map((entry) => entry.entity.id);
    expect(keys).toHaveLength(2);
    expect(keys[1]).not.toBe(keys[0]);
  });
});

test('manifestSigner: signer (the default) signs the manifests of each dispatch pass once with the checkpoint signer, and delegates nothing', async () => {
  const { signer, counts } = countingSigner();
  const { engine, storage } = await engineWith({ signer, concurrency: 8 });
  engine.start();
  const { runId } = engine.submit(spec(10), { actor: ana });
  await engine.waitForRun(runId);
  const bundle = await engine.exportBundle(runId);
  await engine.stop();
  const entries = [...engine.audit.entries()];
  expect(entries.filter((entry) => entry.action === 'key.delegated')).toHaveLength(0);
  // One signature a pass (ADR 0026): the first pass takes 8 items at once.
  const signed = new Set(bundle.manifests.map(({ envelope }) => (isBatched(envelope) ? canonicalJson(envelope.batch) : canonicalJson(envelope))));
  expect(signed.size).toBeLessThanOrEqual(3);
  expect(bundle.manifests.filter(({ envelope }) => isBatched(envelope)).length).toBeGreaterThanOrEqual(8);
  expect(counts.calls).toBe(signed.size + entries.filter((entry) => entry.action === 'checkpoint.issued').length);
  expect(bundle.delegations).toBeUndefined();
  expect(new Set(bundle.manifests.map((manifest) => storedManifestSignatures(manifest.envelope)[0]!.keyid))).toEqual(
    new Set([keyIdOf(await signer.publicKey())]),
  );
  expect((await storage.list({ prefix: 'delegations/' })).keys).toHaveLength(0);
});
