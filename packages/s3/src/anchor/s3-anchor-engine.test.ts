// The engine anchoring into S3 through an outage: while the endpoint refuses connections each
// checkpoint stays queued (`checkpoint.anchored` failure entries), and once it answers the same
// checkpoint is anchored; the run's bundle then verifies tamper-evident against the bucket.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyIdOf, verifyBundle } from '@cairn/audit';
import { createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import type { AuditActor } from '@cairn/core';
import { createEngine, type Engine } from '@cairn/engine';
import { afterEach, expect, test } from 'vitest';
import { createTestBucket, radosgwClient, radosgwConnection } from '../testing/radosgw-connection.ts';
import { createS3ObjectLockAnchor } from './s3-object-lock-anchor.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A loopback port nothing listens on yet (connections are refused), and a way to start forwarding it to radosgw. */
async function outagePort(): Promise<{ readonly port: number; restore(): Promise<void> }> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const target = new URL(radosgwConnection().endpoint);
  let proxy: Server | undefined;
  const sockets = new Set<Socket>();
  cleanups.push(() => {
    // The SDK keeps connections alive: end them, or close() waits for them.
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  });
  return {
    port,
    restore: async () => {
      proxy = createServer((socket) => {
        const upstream = connect(Number(target.port), target.hostname);
        sockets.add(socket).add(upstream);
        socket.pipe(upstream).pipe(socket);
        const end = () => {
          socket.destroy();
          upstream.destroy();
        };
        socket.on('error', end).on('close', end);
        upstream.on('error', end).on('close', end);
      });
      await new Promise<void>((resolve) => proxy!.listen(port, '127.0.0.1', resolve));
    },
  };
}

test(
  'an S3 outage queues the checkpoint; once S3 answers the same checkpoint is anchored, nothing dropped, and the bundle is tamper-evident',
  { timeout: 30_000 },
  async () => {
    const client = radosgwClient();
    const bucket = await createTestBucket(client, { objectLock: true });
    const outage = await outagePort();
    const prefix = 'engine/';
    // The engine's anchor goes through the port that refuses connections; the verifier's reads the bucket directly.
    const anchor = createS3ObjectLockAnchor({
      bucket,
      prefix,
      retentionDays: 1,
      maxAttempts: 1,
      client: radosgwClient({ endpoint: `http://127.0.0.1:${outage.port}`, maxAttempts: 1 }),
    });
    const directory = mkdtempSync(join(tmpdir(), 'cairn-s3-engine-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const signer = createInMemorySigner();
    const engine: Engine = createEngine({
      database: join(directory, 'engine.db'),
      executors: { local: createInMemoryExecutor({ run: async () => 0 }) },
      storage: createInMemoryStorageProvider(),
      signer,
      reconcileIntervalMs: 20,
      anchors: [anchor],
    });
    cleanups.push(() => engine.close());
    engine.start();
    const { runId } = engine.submit({ version: 1, name: 's3-outage', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
    await engine.waitForRun(runId);
    const anchoredEntries = () => [...engine.audit.entries()].filter((entry) => entry.action === 'checkpoint.anchored');
    for (let wait = 0; wait < 500 && anchoredEntries().length === 0; wait++) await sleep(10);
    const failures = anchoredEntries();
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((entry) => entry.outcome === 'failure')).toBe(true);
    expect(JSON.stringify(failures[0]!.data)).toContain('CAIRN_ANCHOR_UNAVAILABLE');
    const queuedSize = (failures[0]!.data as { treeSize: number }).treeSize;

    await outage.restore();
    for (let wait = 0; wait < 1000 && !anchoredEntries().some((entry) => entry.outcome === 'success'); wait++) await sleep(20);
    const succeeded = anchoredEntries().filter((entry) => entry.outcome === 'success');
    expect(succeeded.map((entry) => (entry.data as { treeSize: number }).treeSize)).toContain(queuedSize);
    for (let wait = 0; wait < 1000 && engine.metrics().pendingCheckpoints > 0; wait++) await sleep(20);
    expect(engine.metrics().pendingCheckpoints, 'every queued checkpoint was anchored').toBe(0);

    const verifierAnchor = createS3ObjectLockAnchor({ bucket, prefix, retentionDays: 1, client });
    const report = await verifyBundle(await engine.exportBundle(runId), {
      pinnedKeyIds: [keyIdOf(await signer.publicKey())],
      trustedAnchors: [verifierAnchor],
    });
    expect(report).toMatchObject({ valid: true, verdict: 'verified', claim: 'tamper-evident' });
  },
);
