// The reference server end to end over HTTP on loopback, as `cairn init` + `cairn serve` make it
// (local storage, signer and anchors in a temp dir, bearer-token auth, the audit log on), with the
// executor that completes at once in place of sandboxes: what is left to measure is HTTP, auth,
// the engine and its event streams. Clients run in this process, so they share its CPU with the
// server (as on a laptop); the numbers are a floor for a server with a machine of its own.
// The 10,000-item run is measured in turns with the engine alone (engine.bench.ts's fan-out: the
// same items at the same concurrency, no HTTP, in-memory storage), so what the server adds is a
// ratio of one run (at most 1.3×), and its fsyncs per item are counted under strace.
import { Agent, request, type IncomingMessage } from 'node:http';
import { createCairnClient } from '@cairn/client';
import { noOpRun, startServer, submitToCompletion, type RunningServer } from './bench-server.ts';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import { fanoutConcurrency, fanoutItems, independentItems, runEngineItems } from './engine-fanout.ts';
import { countFsyncs } from '@cairn/conformance/faults';
import { ensureDebianProgram } from './debian-program.ts';
import { atMostTimes, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

/** Rounds of the 10,000-item run, the server and the engine alone in turn: the mean of each is its row. */
const rounds = 2;

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
    log("  1,000 no-op items over HTTP, followed to the end through the run's state events");
    const submit1000 = await submitToCompletion(server, 1_000);
    log(`  10,000 no-op items over HTTP the same way, and through the engine alone (concurrency ${fanoutConcurrency}), ${rounds} rounds in turn`);
    const served: { wallMs: number; cpuMs: number }[] = [];
    const alone: number[] = [];
    for (let round = 0; round < rounds; round++) {
      served.push(await submitToCompletion(server, fanoutItems));
      alone.push((await runEngineItems(independentItems(fanoutItems), fanoutConcurrency)).wall);
    }
    log(`    server ${served.map((run) => Math.round(run.wallMs)).join(', ')} ms; engine alone ${alone.map(Math.round).join(', ')} ms`);
    const submit10000 = { wallMs: mean(served.map((run) => run.wallMs)), cpuMs: mean(served.map((run) => run.cpuMs)) };
    const aloneMs = mean(alone);
    log('  GET /v1/runs/:id from 8 keep-alive clients for 2 s');
    const client = createCairnClient({ baseUrl: server.base, token: server.token });
    const { runId } = await client.submit(noOpRun('bench-status', 10));
    await client.waitForRun(runId);
    const statusRate = await statusRequestsPerSecond(server, runId, 8, 2_000);
    log('  1,000 event-stream subscribers, a run of 100 items');
    const fanout = await sseFanout(server, 1_000, 100);
    log('  10,000 no-op items over HTTP in a server of its own, counting its fsyncs');
    const { fsyncs, stdout } = countFsyncs(childNodeArgv([], 'server-items-child.ts', [String(fanoutItems)]), {
      strace: ensureDebianProgram('strace', 'strace'),
    });
    // The child's report proves its run succeeded (it throws otherwise, failing this benchmark).
    lastJsonLine(stdout);
    const aloneRow = recorded('server.engine-alone-10000.wall-ms', Math.round(aloneMs), 'ms');
    return [
      recorded('server.submit-1000.wall-ms', Math.round(submit1000.wallMs), 'ms'),
      aloneRow,
      atMostTimes('server.submit-10000.wall-ms', Math.round(submit10000.wallMs), 'ms', aloneRow, 1.3),
      recorded('server.submit-10000.over-engine-alone', Number((submit10000.wallMs / aloneMs).toFixed(2)), 'x'),
      recorded('server.submit-10000.cpu-ms', Math.round(submit10000.cpuMs), 'ms'),
      recorded('server.submit-10000.items-per-s', Math.round(fanoutItems / (submit10000.wallMs / 1000)), 'items/s'),
      recorded('server.submit-10000.fsyncs-per-item', Number((fsyncs / fanoutItems).toFixed(4)), 'fsyncs'),
      recorded('server.status.requests-per-s', Math.round(statusRate), 'requests/s'),
      recorded('server.sse-fanout-1000.ms', Math.round(fanout.ms), 'ms'),
      recorded('server.sse-fanout-1000.rss-mb', Math.round(fanout.peakRssMb), 'MB'),
    ];
  } finally {
    await server.close();
  }
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}
