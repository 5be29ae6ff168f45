// The reference server end to end over HTTP on loopback, as `cairn init` + `cairn serve` make it
// (local storage, signer and anchors in a temp dir, bearer-token auth, the audit log on), with the
// executor that completes at once in place of sandboxes: what is left to measure is HTTP, auth,
// the engine and its event streams. Clients run in this process, so they share its CPU with the
// server (as on a laptop); the numbers are a floor for a server with a machine of its own.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunSpecV1 } from '@cairn/core';
import { createCairnClient } from '@cairn/client';
import { buildHttpApi, composeServer, initServer, loadServerConfig } from '@cairn/server';
import { InstantExecutor } from './instant-executor.ts';
import { atMost, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const command = { kind: 'command' as const, argv: ['true'] };

interface RunningServer {
  readonly base: string;
  readonly token: string;
  close(): Promise<void>;
}

/** A server as `cairn serve` runs it, on 127.0.0.1:0, with the instant executor and room for 1,000 attempts at once. */
async function startServer(): Promise<RunningServer> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-server-'));
  const { configFile, operatorToken } = await initServer(directory);
  // The starter config with the engine's concurrency raised, as the engine benchmarks run it.
  writeFileSync(configFile, readFileSync(configFile, 'utf8').replace(/concurrency: \d+/, 'concurrency: 1000'));
  const loaded = loadServerConfig({ file: configFile, env: {} });
  const composition = await composeServer(loaded, { executors: { instant: new InstantExecutor({ record: false }) } });
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: loaded.config.server.auth });
  composition.engine.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    base,
    token: operatorToken,
    async close() {
      await app.close();
      await composition.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

function noOpRun(name: string, count: number): RunSpecV1 {
  return { version: 1, name, items: Array.from({ length: count }, (_, index) => ({ id: `item-${index}`, runtime: command })) };
}

/**
 * POSTs one run of `count` no-op items and follows it to its end as `cairn submit --wait` does
 * (the client's waitForRun: the run's server-sent events); returns the wall time.
 */
async function submitToCompletion(server: RunningServer, count: number): Promise<{ wallMs: number; cpuMs: number }> {
  const client = createCairnClient({ baseUrl: server.base, token: server.token });
  return wallAndCpu(async () => {
    const { runId } = await client.submit(noOpRun(`bench-${count}`, count));
    const run = await client.waitForRun(runId);
    if (run.state !== 'succeeded' || run.itemsFinished !== count)
      throw new Error(`the benchmark run ended ${run.state} with ${run.itemsFinished} of ${count} items`);
  });
}

/**
 * Wall time and this process's CPU time (user + system) of `work`. On a shared machine the wall
 * time follows the neighbours' load; the CPU time is what the work itself cost.
 */
async function wallAndCpu(work: () => Promise<unknown>): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const wallMs = await timeMilliseconds(work);
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000 };
}

/** GET with a keep-alive agent; resolves with the status and body. */
function get(agent: Agent, url: URL, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** GET /v1/runs/:id from `clients` keep-alive connections, each asking again as soon as it is answered, for `durationMs`. */
async function statusRequestsPerSecond(server: RunningServer, runId: string, clients: number, durationMs: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const url = new URL(`/v1/runs/${runId}`, server.base);
  let answered = 0;
  const started = performance.now();
  const until = started + durationMs;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const { status, body } = await get(agent, url, server.token);
        if (status !== 200 || !body.includes(runId)) throw new Error(`GET ${url.pathname} answered ${status}: ${body.slice(0, 200)}`);
        answered++;
      }
    }),
  );
  const elapsed = performance.now() - started;
  agent.destroy();
  return answered / (elapsed / 1000);
}

/**
 * Opens `count` SSE subscriptions to every event after the log's current end, submits a run of
 * `items` items, and times from the submit until every subscriber has received the run's final
 * event. Samples RSS meanwhile (server and subscribers, one process).
 */
async function sseFanout(server: RunningServer, count: number, items: number): Promise<{ ms: number; peakRssMb: number }> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const headers = { authorization: `Bearer ${server.token}` };
  const ready = (await get(agent, new URL('/readyz', server.base), server.token)).body;
  const after = (JSON.parse(ready) as { auditEntries: number }).auditEntries - 1;
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
  const responses: IncomingMessage[] = [];
  try {
    // Each subscriber resolves `finished` when it sees `run.state` ended for the run; the run id
    // is known only after the submit, so they look for any run's end (only this run ends here).
    const finished: Promise<void>[] = [];
    await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<void>((connected, failed) => {
            const outgoing = request(new URL(`/v1/events?after=${after}`, server.base), { agent, headers }, (response) => {
              if (response.statusCode !== 200) return failed(new Error(`GET /v1/events answered ${response.statusCode}`));
              responses.push(response);
              response.setEncoding('utf8');
              let buffered = '';
              finished.push(
                new Promise<void>((done, broken) => {
                  response.on('data', (chunk: string) => {
                    buffered += chunk;
                    const blocks = buffered.split('\n\n');
                    buffered = blocks.pop()!;
                    if (blocks.some((block) => block.includes('event: run.state') && /"state":"(succeeded|failed|cancelled)"/.test(block))) done();
                  });
                  response.on('error', broken);
                  response.on('end', () => broken(new Error('an event stream ended before the run did')));
                }),
              );
              connected();
            });
            outgoing.on('error', failed);
            outgoing.end();
          }),
      ),
    );
    const client = createCairnClient({ baseUrl: server.base, token: server.token });
    const ms = await timeMilliseconds(async () => {
      await client.submit(noOpRun('bench-fanout', items));
      await Promise.all(finished);
    });
    return { ms, peakRssMb: peakRss / 1024 / 1024 };
  } finally {
    clearInterval(sampler);
    for (const response of responses) response.destroy();
    agent.destroy();
  }
}

export default async function serverBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const server = await startServer();
  try {
    log("  1,000 no-op items over HTTP, followed to the end through the run's events");
    const submit1000 = await submitToCompletion(server, 1_000);
    log('  10,000 no-op items over HTTP, the same way');
    const submit10000 = await submitToCompletion(server, 10_000);
    log('  GET /v1/runs/:id from 8 keep-alive clients for 2 s');
    const client = createCairnClient({ baseUrl: server.base, token: server.token });
    const { runId } = await client.submit(noOpRun('bench-status', 10));
    await client.waitForRun(runId);
    const statusRate = await statusRequestsPerSecond(server, runId, 8, 2_000);
    log('  1,000 event-stream subscribers, a run of 100 items');
    const fanout = await sseFanout(server, 1_000, 100);
    return [
      recorded('server.submit-1000.wall-ms', Math.round(submit1000.wallMs), 'ms'),
      atMost('server.submit-10000.wall-ms', Math.round(submit10000.wallMs), 'ms', 3_000),
      recorded('server.submit-10000.cpu-ms', Math.round(submit10000.cpuMs), 'ms'),
      recorded('server.submit-10000.items-per-s', Math.round(10_000 / (submit10000.wallMs / 1000)), 'items/s'),
      recorded('server.status.requests-per-s', Math.round(statusRate), 'requests/s'),
      recorded('server.sse-fanout-1000.ms', Math.round(fanout.ms), 'ms'),
      recorded('server.sse-fanout-1000.rss-mb', Math.round(fanout.peakRssMb), 'MB'),
    ];
  } finally {
    await server.close();
  }
}
