// The server's S3 storage under a network that fails: a seeded proxy in front of the test S3 server
// answers 20% of requests with 500/503 or resets the connection (before S3 acts, or after it acted
// and before the answer). A 200-item run through it completes, and every artifact of every item,
// read straight from the bucket, hashes to its digest: none lost, none corrupt.
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { blobKey } from '@cairn/protocol';
import { afterEach, expect, test, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment, startS3FaultProxy, type S3FaultProxy } from '@cairn/s3/testing';
import { composeServer } from './compose-server.ts';
import type { ServerComposition } from './server-composition.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.unstubAllEnvs();
});

test(
  'a 200-item run on S3 storage behind 20% injected 5xx and connection resets completes; every artifact reads back whole (0 lost, 0 corrupt)',
  { timeout: 240_000 },
  async () => {
    for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
    const client = radosgwClient();
    const bucket = await createTestBucket(client);
    const proxy: S3FaultProxy = await startS3FaultProxy({ target: radosgwConnection().endpoint, faultRate: 0.2, seed: 20_261_123 });
    cleanups.push(() => proxy.close());
    const directory = mkdtempSync(join(tmpdir(), 'cairn-s3-faults-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    // Sandboxes start as their own uids and must pass through to their workspaces.
    chmodSync(directory, 0o711);
    await initServer(directory);
    const file = join(directory, 'cairn.config.yaml');
    const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      file,
      stringifyYaml({
        ...config,
        // Ten attempts per operation: at a 20% fault rate one operation fails all of them once in ten million.
        storage: { kind: 's3', bucket, prefix: 'cairn/', endpoint: proxy.endpoint, region: radosgwConnection().region, forcePathStyle: true, maxAttempts: 10 },
        executor: { sandbox: process.getuid?.() === 0 ? 'bubblewrap' : 'none' },
      }),
    );
    const composition: ServerComposition = await composeServer(loadServerConfig({ directory, env: {} }));
    cleanups.push(() => composition.close());
    composition.engine.start();

    const items = Array.from({ length: 200 }, (_, index) => ({
      id: `write-${index}`,
      runtime: { kind: 'command', argv: ['/bin/sh', '-c', `echo "item ${index}" > file-${index}.txt`] },
    }));
    const { runId } = composition.engine.submit(
      { version: 1, name: 'through-faults', concurrency: 16, items },
      { actor: { kind: 'user', id: 'tester', via: 'engine' } },
    );
    const run = await composition.engine.waitForRun(runId);
    const notSucceeded = composition.engine.items(runId).filter((item) => item.state !== 'succeeded');
    expect(notSucceeded.map((item) => [item.itemId, item.state, composition.engine.attempts(runId, item.itemId).at(-1)?.failure?.message])).toEqual([]);
    expect(run.state).toBe('succeeded');

    // Every artifact, read straight from the bucket (not through the proxy, not through Cairn).
    let checked = 0;
    const problems: string[] = [];
    for (const { itemId } of composition.engine.items(runId)) {
      const artifacts = composition.engine.artifacts(runId, itemId) ?? {};
      expect(Object.keys(artifacts), itemId).toContain('patch');
      for (const [kind, digest] of Object.entries(artifacts)) {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `cairn/${blobKey(digest)}` })).catch(() => null);
        if (object === null) {
          problems.push(`${itemId} ${kind} ${digest}: lost`);
          continue;
        }
        const bytes = await object.Body!.transformToByteArray();
        const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
        if (actual !== digest) problems.push(`${itemId} ${kind} ${digest}: corrupt (hashes to ${actual})`);
        if (kind === 'patch') expect(new TextDecoder().decode(bytes)).toContain(`+item ${itemId.slice('write-'.length)}`);
        checked += 1;
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(200 * 3);
    // The faults were there: every kind met many times.
    for (const fault of ['status-500', 'status-503', 'reset-before', 'reset-after'] as const) expect(proxy.counts[fault], fault).toBeGreaterThan(10);
  },
);
