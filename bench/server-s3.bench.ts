// The reference server with S3 storage against the same server with local storage: 1,000 no-op
// items submitted over HTTP and followed to their end, each server as `cairn init` makes it, with
// the instant executor in place of sandboxes. It runs no worker, and its exits say so (`result:
// null`, ADR 0060): the engine reads no result record, as it reads none when an executor carries
// its worker's record. What differs is where the engine keeps its objects (each item's signed
// dispatch manifest, written if-absent): a directory, or a bucket of the test
// S3 server (radosgw on loopback, `scripts/radosgw.sh`, credentials from its connection file
// through the AWS_* variables, as a server gets them). The ratio holds on any machine; the absolute
// numbers follow the S3 server's latency (loopback here, tens of ms per request on AWS). The wall
// times follow a shared machine's load too, so each run also says what it cost in CPU (this
// process: the server and its client; the S3 gateway's process and the Ceph store's beneath it,
// read from /proc) and how many S3 requests the S3 server logged for the run's bucket: the rows to
// compare across changes.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunSpecV1 } from '@cairn/core';
import { createCairnClient } from '@cairn/client';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { buildHttpApi, composeServer, initServer, loadServerConfig } from '@cairn/server';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import startRadosgw from '../packages/s3/src/testing/radosgw.global-setup.ts';
import { InstantExecutor } from './instant-executor.ts';
import { atMost, recorded, wallAndCpu, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

/** 1,000 no-op items over HTTP through a server whose storage is `storage`: the wall and CPU time to the run's end. */
async function runOn(storage: Record<string, unknown>, count: number): Promise<{ wallMs: number; cpuMs: number }> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-server-s3-'));
  try {
    const { configFile, operatorToken } = await initServer(directory);
    const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(configFile, stringifyYaml({ ...config, storage, engine: { ...(config['engine'] as object), concurrency: 1000 } }));
    const loaded = loadServerConfig({ file: configFile, env: {} });
    const composition = await composeServer(loaded, { executors: { instant: new InstantExecutor({ record: false, saysNoResult: true }) } });
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
      return await wallAndCpu(async () => {
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

/** Where the test S3 server keeps its pid file and log (`scripts/radosgw.sh`): CAIRN_RADOSGW_DIR or the checkout's. */
const radosgwDirectory = process.env['CAIRN_RADOSGW_DIR'] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '.tools', 'radosgw');

/**
 * The CPU time so far (user + system, ms) of one daemon of the test S3 server (`client.rgw.a`, the
 * gateway; `osd.0` and `mon.a`, the Ceph store beneath it, which each PUT also costs), or undefined
 * when its process is not this checkout's to read. A server shared with tests running meanwhile
 * counts their requests too.
 */
function daemonCpuMs(daemon: string): number | undefined {
  const pidFile = join(radosgwDirectory, 'run', `${daemon}.pid`);
  if (!existsSync(pidFile)) return undefined;
  try {
    // Fields 14 and 15 of /proc/<pid>/stat (after the command's closing parenthesis: 12 and 13) in clock ticks of 10 ms.
    const fields = readFileSync(`/proc/${readFileSync(pidFile, 'utf8').trim()}/stat`, 'utf8')
      .split(') ')[1]!
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** The gateway's CPU time so far (ms), or undefined. */
const radosgwCpuMs = (): number | undefined => daemonCpuMs('client.rgw.a');

/** The Ceph store's (the OSD's and the monitor's) CPU time so far (ms), or undefined. */
function storeCpuMs(): number | undefined {
  const osd = daemonCpuMs('osd.0');
  const monitor = daemonCpuMs('mon.a');
  return osd === undefined || monitor === undefined ? undefined : osd + monitor;
}

/**
 * The requests the S3 server logged for `bucket` (its log names each with its path), by kind
 * (method, status and the key's first folder: `PUT 200 manifests`), or undefined without its log.
 */
function radosgwRequestsFor(bucket: string): Map<string, number> | undefined {
  const logFile = join(radosgwDirectory, 'log', 'client.rgw.a.log');
  if (!existsSync(logFile)) return undefined;
  const request = new RegExp(`"([A-Z]+) /${bucket}/(?:cairn/)?([^/ ?]*)[^ ]* HTTP/[0-9.]+" ([0-9]+)`);
  const kinds = new Map<string, number>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const match = line.includes(' beast: ') ? request.exec(line) : null;
    if (match === null) continue;
    const kind = `${match[1]} ${match[3]} ${decodeURIComponent(match[2]!) || '/'}`;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

export default async function serverS3Benchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  startRadosgw();
  const connection = radosgwConnection();
  Object.assign(process.env, radosgwEnvironment());
  const admin = radosgwClient();
  // The warm-up's bucket is another: the request rows count the measured run's bucket alone.
  const warmUpBucket = await createTestBucket(admin);
  const bucket = await createTestBucket(admin);
  admin.destroy();
  const onS3 = (name: string) => ({
    kind: 's3',
    bucket: name,
    prefix: 'cairn/',
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: true,
  });
  // A first small run each way, unrecorded: without it the local run, measured first, carried the
  // process's warm-up (the server's and the engine's code compiled, their modules read), and the
  // S3 run the SDK's.
  log('  a first 100 items each way, unrecorded (the code paths warm)');
  await runOn({ kind: 'local' }, 100);
  await runOn(onS3(warmUpBucket), 100);
  log('  1,000 no-op items over HTTP on local storage');
  const local = await runOn({ kind: 'local' }, 1_000);
  log(`  the same on S3 storage (s3://${bucket}/ at ${connection.endpoint})`);
  const gatewayBefore = radosgwCpuMs();
  const storeBefore = storeCpuMs();
  const s3 = await runOn(onS3(bucket), 1_000);
  const gatewayAfter = radosgwCpuMs();
  const storeAfter = storeCpuMs();
  // Written once the run ended: the log lines of the bucket's requests are all there by then.
  const kinds = radosgwRequestsFor(bucket);
  const requests = kinds === undefined ? undefined : [...kinds.values()].reduce((sum, count) => sum + count, 0);
  if (kinds !== undefined)
    log(
      `  S3 requests by kind: ${[...kinds]
        .sort((a, b) => b[1] - a[1])
        .map(([kind, count]) => `${kind} ×${count}`)
        .join(', ')}`,
    );
  if (gatewayAfter === undefined || requests === undefined)
    log(`  (the S3 server's pid file or log is not in ${radosgwDirectory}: its CPU and request rows are left out)`);
  return [
    recorded('server-s3.submit-1000.local.wall-ms', Math.round(local.wallMs), 'ms'),
    recorded('server-s3.submit-1000.s3.wall-ms', Math.round(s3.wallMs), 'ms'),
    // The goal: the same server on S3 storage within 1.5× its run on local storage.
    atMost('server-s3.submit-1000.s3-over-local', Number((s3.wallMs / local.wallMs).toFixed(2)), 'x', 1.5),
    recorded('server-s3.submit-1000.local.cpu-ms', Math.round(local.cpuMs), 'ms'),
    recorded('server-s3.submit-1000.s3.cpu-ms', Math.round(s3.cpuMs), 'ms'),
    ...(gatewayBefore === undefined || gatewayAfter === undefined
      ? []
      : [recorded('server-s3.submit-1000.s3.gateway-cpu-ms', gatewayAfter - gatewayBefore, 'ms')]),
    // What the gateway's requests cost the Ceph store beneath it (each PUT is a few RADOS operations).
    ...(storeBefore === undefined || storeAfter === undefined ? [] : [recorded('server-s3.submit-1000.s3.store-cpu-ms', storeAfter - storeBefore, 'ms')]),
    ...(requests === undefined ? [] : [recorded('server-s3.submit-1000.s3.requests-per-item', Number((requests / 1_000).toFixed(2)), 'requests')]),
  ];
}
