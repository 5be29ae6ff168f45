// The engine stamping checkpoints at a real RFC 3161 TSA (OpenSSL behind HTTP on loopback) through
// an outage: while the TSA answers 503 each checkpoint stays queued (`checkpoint.anchored` failure
// entries); once it answers, the same checkpoint gets its token, nothing dropped, and the run's
// bundle carries the token and verifies `witnessed` with the TSA certificate trusted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { anchorEnvelopeBytes, keyIdOf, openReceipt, serializeEvidenceBundle, trustedKeyFrom, verifyBundle, verifyTimestampToken } from '@cairn/audit';
import { createInMemoryAuditAnchor, createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import type { AuditActor } from '@cairn/core';
import { createEngine, type Engine } from '@cairn/engine';
import { afterEach, expect, test } from 'vitest';
import { createRfc3161Anchor } from './anchor/rfc3161-anchor.ts';
import { OpensslTestTsa } from './testing/openssl-tsa-server.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

test(
  'a TSA outage queues the checkpoint; once the TSA answers the same checkpoint gets its token, nothing dropped, and the bundle is witnessed',
  { timeout: 30_000 },
  async () => {
    const tsa = await OpensslTestTsa.start();
    cleanups.push(() => tsa.close());
    tsa.behaviour = 'unavailable';
    const directory = mkdtempSync(join(tmpdir(), 'cairn-tsa-engine-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const signer = createInMemorySigner();
    const engine: Engine = createEngine({
      database: join(directory, 'engine.db'),
      executors: { local: createInMemoryExecutor({ run: async () => 0 }) },
      storage: createInMemoryStorageProvider(),
      signer,
      reconcileIntervalMs: 20,
      // The TSA beside another anchor: the checkpoint is anchored to both, and only the TSA's receipt holds a token.
      anchors: [createInMemoryAuditAnchor(), createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate })],
    });
    cleanups.push(() => engine.close());
    engine.start();
    const { runId } = engine.submit({ version: 1, name: 'tsa-outage', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
    await engine.waitForRun(runId);
    const anchoredEntries = () => [...engine.audit.entries()].filter((entry) => entry.action === 'checkpoint.anchored');
    for (let wait = 0; wait < 500 && anchoredEntries().length === 0; wait++) await sleep(10);
    const failures = anchoredEntries();
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((entry) => entry.outcome === 'failure')).toBe(true);
    expect(JSON.stringify(failures[0]!.data)).toMatch(/CAIRN_ANCHOR_UNAVAILABLE.*HTTP 503/);
    const queuedSize = (failures[0]!.data as { treeSize: number }).treeSize;
    expect(engine.metrics().pendingCheckpoints).toBeGreaterThan(0);
    // While the TSA is down, the bundle has no token: nothing claims witnessed.
    const early = await engine.exportBundle(runId);
    expect(early.timestamp).toBeUndefined();

    tsa.behaviour = 'grant';
    for (let wait = 0; wait < 1000 && !anchoredEntries().some((entry) => entry.outcome === 'success'); wait++) await sleep(20);
    const succeeded = anchoredEntries().filter((entry) => entry.outcome === 'success');
    expect(succeeded.map((entry) => (entry.data as { treeSize: number }).treeSize)).toContain(queuedSize);
    for (let wait = 0; wait < 1000 && engine.metrics().pendingCheckpoints > 0; wait++) await sleep(20);
    expect(engine.metrics().pendingCheckpoints, 'every queued checkpoint was stamped').toBe(0);

    const bundle = await engine.exportBundle(runId);
    expect(bundle.timestamp?.token).toBeDefined();
    // The token is the one in the TSA's signed receipt, over this checkpoint's envelope.
    const receipts = bundle.anchors.map((envelope) => openReceipt(envelope, [trustedKeyFrom(bundle.keys[0]!, 'keys')]));
    expect(receipts.map((receipt) => receipt.anchor).sort()).toEqual(['in-memory', 'rfc3161']);
    expect(receipts.find((receipt) => receipt.anchor === 'rfc3161')!.timestampToken).toBe(bundle.timestamp!.token);
    verifyTimestampToken(Buffer.from(bundle.timestamp!.token, 'base64'), anchorEnvelopeBytes(bundle.checkpoint), [tsa.certificate]);
    const pinned = { pinnedKeyIds: [keyIdOf(await signer.publicKey())] };
    const report = await verifyBundle(bundle, { ...pinned, trustedTsaCertificates: [tsa.certificate] });
    expect(report).toMatchObject({ valid: true, verdict: 'verified', claim: 'witnessed' });
    // Byte-identical exports: the stored token is reused, not asked for again.
    expect(serializeEvidenceBundle(await engine.exportBundle(runId))).toEqual(serializeEvidenceBundle(bundle));
    // Without the TSA certificate, or trusting another TSA, it is not witnessed.
    expect((await verifyBundle(bundle, pinned)).claim).toBe('tamper-detecting');
    const other = await OpensslTestTsa.start();
    cleanups.push(() => other.close());
    const refused = await verifyBundle(bundle, { ...pinned, trustedTsaCertificates: [other.certificate] });
    expect(refused).toMatchObject({ valid: false, claim: 'tamper-detecting' });
    expect(refused.checks.find((check) => check.name === 'timestamp')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/no trusted TSA certificate/),
    });
  },
);
