// /metrics of a real server (SQLite, local executor, loopback HTTP), scraped after a run.
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { VERSION } from '../version.ts';
import { ServerMetrics } from './server-metrics.ts';

const serve = runningServers();

const spec = `version: 1\nname: timed\nitems:\n  - { id: nap, runtime: { kind: command, argv: [/bin/sh, -c, "sleep 0.3"] } }\n  - { id: fails, runtime: { kind: command, argv: [/bin/false] } }\n`;

async function waitForEnd(api: (path: string) => Promise<Response>, runId: string): Promise<void> {
  for (let wait = 0; wait < 400; wait++) {
    const run = (await (await api(`/v1/runs/${runId}`)).json()) as { state: string };
    if (['succeeded', 'failed', 'cancelled'].includes(run.state)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`run ${runId} never ended`);
}

/** The value of one sample line (`name{labels} value`) of a scrape. */
function sample(text: string, line: RegExp): number {
  const match = text.split('\n').find((candidate) => line.test(candidate));
  if (!match) throw new Error(`no sample matches ${line}`);
  return Number(match.slice(match.lastIndexOf(' ') + 1));
}

test(
  '/metrics after a run: the attempt-duration histogram by executor and outcome, cairn_build_info, and the standard process and Node metrics',
  { timeout: 60_000 },
  async () => {
    const { api } = await serve();
    const { runId } = (await (await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: spec })).json()) as {
      runId: string;
    };
    await waitForEnd(api, runId);
    const text = await (await api('/metrics')).text();

    expect(text).toContain('# TYPE cairn_attempt_duration_seconds histogram');
    expect(sample(text, /^cairn_attempt_duration_seconds_count\{executor="local",outcome="succeeded"\} /)).toBe(1);
    expect(sample(text, /^cairn_attempt_duration_seconds_count\{executor="local",outcome="failed"\} /)).toBe(1);
    // The sleeping attempt took at least its 0.3 s, and is not in the 0.1 s bucket.
    expect(sample(text, /^cairn_attempt_duration_seconds_sum\{executor="local",outcome="succeeded"\} /)).toBeGreaterThanOrEqual(0.3);
    expect(sample(text, /^cairn_attempt_duration_seconds_bucket\{le="0.1",executor="local",outcome="succeeded"\} /)).toBe(0);
    expect(sample(text, /^cairn_attempt_duration_seconds_bucket\{le="\+Inf",executor="local",outcome="succeeded"\} /)).toBe(1);

    expect(text).toContain('# TYPE cairn_build_info gauge');
    expect(sample(text, new RegExp(`^cairn_build_info\\{version="${VERSION.replaceAll('.', '\\.')}",node="${process.version}"\\} `))).toBe(1);

    // Standard names, as the stock Node.js dashboards query them.
    expect(sample(text, /^process_cpu_seconds_total /)).toBeGreaterThan(0);
    expect(sample(text, /^process_resident_memory_bytes /)).toBeGreaterThan(0);
    expect(sample(text, /^process_start_time_seconds /)).toBeGreaterThan(0);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).toMatch(/^nodejs_version_info\{version="v/m);
  },
);

test('two servers in one process keep their own registries, each with its own process metrics', async () => {
  const first = new ServerMetrics();
  const second = new ServerMetrics();
  first.observer.attemptEnded?.({ runId: 'r-1', itemId: 'a', executor: 'local', outcome: 'succeeded', durationMs: 1500 });
  const [one, two] = [await first.registry.metrics(), await second.registry.metrics()];
  expect(one).toMatch(/^cairn_attempt_duration_seconds_sum\{executor="local",outcome="succeeded"\} 1\.5$/m);
  expect(two).not.toMatch(/^cairn_attempt_duration_seconds_count\{/m);
  expect(one).toMatch(/^process_cpu_seconds_total /m);
  expect(two).toMatch(/^process_cpu_seconds_total /m);
});

test("the Kubernetes executor's sandbox claims: latency by pool, and warm hits and cold claims counted apart", async () => {
  const metrics = new ServerMetrics();
  metrics.observeSandboxClaim({ warmPool: 'cairn-workers', launch: 'warm', seconds: 0.2 });
  metrics.observeSandboxClaim({ warmPool: 'cairn-workers', launch: 'warm', seconds: 0.3 });
  metrics.observeSandboxClaim({ warmPool: 'cairn-workers', launch: 'cold', seconds: 4 });
  const text = await metrics.registry.metrics();
  expect(text).toContain('cairn_kubernetes_sandbox_claims_total{pool="cairn-workers",launch="warm"} 2');
  expect(text).toContain('cairn_kubernetes_sandbox_claims_total{pool="cairn-workers",launch="cold"} 1');
  expect(text).toContain('cairn_kubernetes_sandbox_claim_seconds_count{pool="cairn-workers"} 3');
  expect(text).toContain('cairn_kubernetes_sandbox_claim_seconds_bucket{le="0.25",pool="cairn-workers"} 1');
  expect(text).toContain('cairn_kubernetes_sandbox_claim_seconds_sum{pool="cairn-workers"} 4.5');
});
