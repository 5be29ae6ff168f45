// Rotating the engine's signing key from one key file to another (ADR 0019): the old key signs
// the handover, checkpoints before it are the old key's and after it the new key's, a run that
// spans the change exports a bundle that needs both keys trusted, and a restart neither rotates
// again nor lets a third key in without the handover.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry, DsseEnvelope, PublicKeyRecord, SignerV1 } from '@cairn/core';
import { openSignerRotatedEntry, storedManifestSignatures, verifyAuditLog, verifyBundle, type LogCheckpoint } from '@cairn/audit';
import { createInMemoryExecutor } from '@cairn/conformance/mocks';
import { createEngine, type Engine } from '@cairn/engine';
import { openEngineDatabase } from '@cairn/engine/internals';
import { isCairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { createLocalAuditAnchor } from '../anchor/local-audit-anchor.ts';
import { createLocalStorageProvider } from '../storage/local-storage-provider.ts';
import { createLocalSigner } from './local-signer.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ana = { kind: 'user', id: 'ana', via: 'cli' } as const;

async function recordOf(signer: SignerV1): Promise<PublicKeyRecord> {
  return { keyId: await signer.keyId(), algorithm: signer.algorithm, publicKey: Buffer.from(await signer.publicKey()).toString('base64') };
}

/** One server folder: storage, a file anchor and key files a, b, c; engines over its database. */
function serverFolder() {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-rotation-'));
  directories.push(directory);
  const storage = createLocalStorageProvider({ root: join(directory, 'storage') });
  const anchor = createLocalAuditAnchor({ directory: join(directory, 'anchor') });
  const key = (name: string) => createLocalSigner({ keyFile: join(directory, 'keys', `${name}.pem`), create: true });
  const database = join(directory, 'engine.db');
  const engineWith = (signer: SignerV1, previousSigner?: SignerV1): Engine =>
    createEngine({
      database,
      executors: { local: createInMemoryExecutor({ run: async () => 0 }) },
      storage,
      signer,
      ...(previousSigner ? { previousSigner } : {}),
      anchors: [anchor],
      reconcileIntervalMs: 20,
      inboxPollMs: false,
    });
  const checkpoints = (): LogCheckpoint[] => {
    const opened = openEngineDatabase(database);
    try {
      return opened
        .prepare<[], { envelope: string; anchored: number; receipts: string }>('SELECT envelope, anchored, receipts FROM checkpoints ORDER BY tree_size')
        .all()
        .map((row) => ({
          envelope: JSON.parse(row.envelope) as DsseEnvelope,
          anchored: row.anchored === 1,
          receipts: JSON.parse(row.receipts) as DsseEnvelope[],
        }));
    } finally {
      opened.close();
    }
  };
  return { storage, anchor, key, engineWith, checkpoints };
}

const treeSizeOf = (envelope: DsseEnvelope) => (JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { treeSize: number }).treeSize;
const rotations = (engine: Engine) => [...engine.audit.entries()].filter((entry) => entry.action === 'signer.rotated');

async function waitFor(condition: () => boolean): Promise<void> {
  for (let wait = 0; wait < 400 && !condition(); wait++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

test(
  'key file A → B: A signs the handover, checkpoints go A then B, a run across the change verifies with both keys and names the missing one',
  { timeout: 30_000 },
  async () => {
    const folder = serverFolder();
    const [a, b] = [folder.key('a'), folder.key('b')];
    const [keyA, keyB] = [await recordOf(a), await recordOf(b)];

    // Before: a whole run, and one that stops at an approval gate when the engine stops.
    const before = folder.engineWith(a);
    before.start();
    const { runId: earlier } = before.submit(
      { version: 1, name: 'earlier', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] },
      { actor: ana },
    );
    await before.waitForRun(earlier);
    const { runId: spanning } = before.submit(
      {
        version: 1,
        name: 'spanning',
        items: [
          { id: 'first', runtime: { kind: 'command', argv: ['true'] } },
          { id: 'second', dependsOn: ['first'], approval: 'required', runtime: { kind: 'command', argv: ['true'] } },
        ],
      },
      { actor: ana },
    );
    await waitFor(() => before.items(spanning).some((item) => item.itemId === 'second' && item.state === 'awaiting-approval'));
    await before.close();

    // After: B, with A to hand over.
    const after = folder.engineWith(b, a);
    const takeOver = await after.checkSigner();
    expect(takeOver).toMatchObject({ rotated: true, keyId: keyB.keyId, fromKeyId: keyA.keyId });
    after.start();
    after.approve(spanning, 'second', ana);
    expect((await after.waitForRun(spanning)).state).toBe('succeeded');
    const { runId: later } = after.submit({ version: 1, name: 'later', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
    await after.waitForRun(later);
    const spanningBundle = await after.exportBundle(spanning);
    const laterBundle = await after.exportBundle(later);
    const entries: AuditEntry[] = [...after.audit.entries()];
    await after.close();

    // The rotation entry: A's statement, handing over at the last checkpoint A signed.
    const [rotated] = entries.filter((entry) => entry.action === 'signer.rotated');
    expect(rotated).toMatchObject({ entity: { kind: 'signer', id: keyB.keyId }, data: { fromKeyId: keyA.keyId, toKeyId: keyB.keyId } });
    const statement = rotated!.data['statement'] as unknown as DsseEnvelope;
    expect(statement.signatures.map((signature) => signature.keyid)).toEqual([keyA.keyId]);
    const rotation = openSignerRotatedEntry(rotated!);
    expect(rotation).toMatchObject({ from: keyA, to: keyB, fromCheckpoint: takeOver.rotated ? takeOver.fromCheckpoint : -1 });

    // Checkpoints up to the handover are A's, every one after it B's (the first right after it).
    const checkpoints = folder.checkpoints();
    const signedBy = checkpoints.map(({ envelope }) => ({ treeSize: treeSizeOf(envelope), keyId: storedManifestSignatures(envelope)[0]!.keyid }));
    expect(signedBy.filter((checkpoint) => checkpoint.treeSize <= rotated!.seq).every((checkpoint) => checkpoint.keyId === keyA.keyId)).toBe(true);
    expect(signedBy.filter((checkpoint) => checkpoint.treeSize > rotated!.seq).every((checkpoint) => checkpoint.keyId === keyB.keyId)).toBe(true);
    expect(signedBy.find((checkpoint) => checkpoint.treeSize <= rotated!.seq)).toBeDefined();
    expect(signedBy.find((checkpoint) => checkpoint.treeSize === rotated!.seq + 1)).toEqual({ treeSize: rotated!.seq + 1, keyId: keyB.keyId });
    expect(signedBy.at(-1)!.treeSize <= rotation.fromCheckpoint).toBe(false);
    expect(signedBy.some((checkpoint) => checkpoint.treeSize === rotation.fromCheckpoint && checkpoint.keyId === keyA.keyId)).toBe(true);

    // The whole log verifies with either key trusted.
    for (const trustedKeys of [[keyA], [keyB], [keyA, keyB]]) {
      expect(await verifyAuditLog(entries, checkpoints, { trustedKeys })).toMatchObject({ valid: true, checkpointsChecked: checkpoints.length });
    }

    // The spanning run: its first manifest is A's, its second B's, its checkpoint B's; keys has both.
    const manifestKeys = spanningBundle.manifests.map(({ envelope }) => storedManifestSignatures(envelope)[0]!.keyid).sort();
    expect(manifestKeys).toEqual([keyA.keyId, keyB.keyId].sort());
    expect(spanningBundle.keys.map((key) => key.keyId)).toEqual([keyA.keyId, keyB.keyId].sort());
    const readAnchor = (reference: Parameters<typeof folder.anchor.read>[0]) => folder.anchor.read(reference);
    expect(await verifyBundle(spanningBundle, { trustedKeys: [keyA, keyB], readAnchor })).toMatchObject({ valid: true, verdict: 'verified' });
    const onlyA = await verifyBundle(spanningBundle, { trustedKeys: [keyA], readAnchor });
    expect(onlyA.valid).toBe(false);
    expect(onlyA.checks.find((check) => check.name === 'checkpoint-signature')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(`signed by ${keyB.keyId}, which is not trusted`),
    });
    const onlyB = await verifyBundle(spanningBundle, { trustedKeys: [keyB], readAnchor });
    expect(onlyB.checks.find((check) => check.name === 'manifests')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(`signed by ${keyA.keyId}, which is not trusted`),
    });
    // A run wholly after the change carries (and needs) only B.
    expect(laterBundle.keys).toEqual([keyB]);
    expect(await verifyBundle(laterBundle, { trustedKeys: [keyB], readAnchor })).toMatchObject({ valid: true });
  },
);

test('a restart with B does not rotate again, and a key C without the handover is refused before anything is signed', { timeout: 30_000 }, async () => {
  const folder = serverFolder();
  const [a, b, c] = [folder.key('a'), folder.key('b'), folder.key('c')];
  const [keyA, keyB, keyC] = [await recordOf(a), await recordOf(b), await recordOf(c)];
  const first = folder.engineWith(a);
  first.start();
  await first.waitForRun(first.submit({ version: 1, name: 'one', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana }).runId);
  await first.close();

  const rotating = folder.engineWith(b, a);
  expect(await rotating.checkSigner()).toMatchObject({ rotated: true });
  await rotating.close();

  // With the previous signer still configured, and without it: B is the log's key, nothing to do.
  for (const previous of [a, undefined]) {
    const restarted = folder.engineWith(b, previous);
    expect(await restarted.checkSigner()).toEqual({ rotated: false, keyId: keyB.keyId });
    restarted.start();
    await restarted.waitForRun(
      restarted.submit({ version: 1, name: 'again', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana }).runId,
    );
    expect(rotations(restarted)).toHaveLength(1);
    await restarted.close();
  }

  // C alone, or C with a previous signer that is not the log's key (A is retired): refused, named.
  const sizeBefore = folder.checkpoints().length;
  for (const [previous, path, words] of [
    [undefined, 'engine.signer', `also give the engine previousSigner: the signer of ${keyB.keyId}`],
    [a, 'engine.previousSigner', `The previousSigner given is ${keyA.keyId}, not that key.`],
  ] as const) {
    const refused = folder.engineWith(c, previous);
    const error = await refused.checkSigner().catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect(error).toMatchObject({ path });
    expect((error as Error).message).toContain(`The signer's key ${keyC.keyId} is not the key this audit log is signed with (${keyB.keyId}`);
    expect((error as Error).message).toContain(words);
    await refused.close();
  }
  // Started anyway: the loop stops before signing anything, and the engine says why it is not ready.
  const started = folder.engineWith(c);
  started.start();
  await waitFor(() => !started.health().ready);
  expect(started.health().reason).toContain(`signer refused: The signer's key ${keyC.keyId}`);
  const { runId: never } = started.submit({ version: 1, name: 'never', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
  // An export would sign a checkpoint: refused the same way.
  await expect(started.exportBundle(never)).rejects.toMatchObject({ code: 'CAIRN_CONFIG_INVALID' });
  expect(started.items(never).map((item) => item.state)).toEqual(['ready']);
  await started.close();
  expect(folder.checkpoints()).toHaveLength(sizeBefore);
  expect(folder.checkpoints().every(({ envelope }) => storedManifestSignatures(envelope)[0]!.keyid !== keyC.keyId)).toBe(true);
});
