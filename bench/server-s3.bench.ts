// The reference server with S3 storage against the same server with local storage: 1,000 no-op
// items submitted over HTTP and followed to their end, each server as `cairn init` makes it, with
// the instant executor in place of sandboxes. What differs is where the engine keeps its objects
// (each item's signed dispatch manifest, written if-absent): a directory, or a bucket of the test
// S3 server (radosgw on loopback, `scripts/radosgw.sh`, credentials from its connection file
// through the AWS_* variables, as a server gets them). The ratio holds on any machine; the absolute
// numbers follow the S3 server's latency (loopback here, tens of ms per request on AWS).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunSpecV1 } from '@cairn/core';
import { createCairnClient } from '@cairn/client';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { buildHttpApi, composeServer, initServer, loadServerConfig } from '@cairn/server';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import startRadosgw from '../packages/s3/src/testing/radosgw.global-setup.ts';
import { InstantExecutor } from './instant-executor.ts';
import { recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

/** 1,000 no-op items over HTTP through a server whose storage is `storage`; the wall time to the run's end. */
async function runOn(storage: Record<string, unknown>, count: number): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-server-s3-'));
  try {
    const { configFile, operatorToken } = await initServer(directory);
    const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(configFile, stringifyYaml({ ...config, storage, engine: { ...(config['engine'] as object), concurrency: 1000 } }));
    const loaded = loadServerConfig({ file: configFile, env: {} });
    const composition = await composeServer(loaded, { executors: { instant: new InstantExecutor({ record: false }) } });
    const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: loaded.config.server.auth });
    composition.engine.start();
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const client = createCairnClient({ baseUrl: base, token: operatorToken });
      const spec: RunSpecV1 = {
        version: 1,
        name: `bench-${String(storage['kind'])}`,
        items: Array.from({ length: count }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } })),
      };
      return await timeMilliseconds(async () => {
        const { runId } = await client.submit(spec);
        const run = await client.waitForRun(runId);
        if (run.state !== 'succeeded' || run.itemsFinished !== count) throw new Error(`the run ended ${run.state} with ${run.itemsFinished} of ${count} items`);
      });
    } finally {
      await app.close();
      await composition.close();
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

export default async function serverS3Benchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  startRadosgw();
  const connection = radosgwConnection();
  Object.assign(process.env, radosgwEnvironment());
  const admin = radosgwClient();
  const bucket = await createTestBucket(admin);
  admin.destroy();
  log('  1,000 no-op items over HTTP on local storage');
  const local = await runOn({ kind: 'local' }, 1_000);
  log(`  the same on S3 storage (s3://${bucket}/ at ${connection.endpoint})`);
  const s3 = await runOn({ kind: 's3', bucket, prefix: 'cairn/', endpoint: connection.endpoint, region: connection.region, forcePathStyle: true }, 1_000);
  return [
    recorded('server-s3.submit-1000.local.wall-ms', Math.round(local), 'ms'),
    recorded('server-s3.submit-1000.s3.wall-ms', Math.round(s3), 'ms'),
    recorded('server-s3.submit-1000.s3-over-local', Number((s3 / local).toFixed(2)), 'ratio'),
  ];
}
