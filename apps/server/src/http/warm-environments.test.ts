// Warm environments through a real server (SQLite, directory storage, the local executor over its
// snapshot cache, bubblewrap): the guide's example runs as written — one setup for three items,
// each item's patch without the environment's files — and the evidence bundle carries the
// setup's log, named by every attempt, and verifies; /metrics counts the hits, the miss and the setup time.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { verifyBundle } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { guideExample } from './guide-example.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const { spec, workspace } = guideExample('warm-environments.md', 'app');

test(
  "the guide's example: one setup for three items, their patches without the environment's files, its log in the evidence",
  { timeout: 180_000 },
  async () => {
    const { base, api, operatorToken, composition, directory } = await start();
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const { runId } = await client.submit(spec('warm-environment'), { workspace: workspace() });
    const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(150_000) });
    const items = await client.items(runId);
    expect(run.state, JSON.stringify(items, null, 2)).toBe('succeeded');
    for (const itemId of ['one', 'two', 'three']) {
      const patch = await client.patch(runId, itemId);
      expect(patch).toContain(`+++ b/${itemId}.txt`);
      expect(patch).toContain('+installed greeting==1.0');
      expect(patch).not.toContain('.deps');
    }
    expect(await client.patch(runId, 'three')).toContain('+changed');
    // Every attempt names the same setup log; the host holds one layer.
    const completed = composition.engine.audit.runEntries(runId).filter((entry) => entry.action === 'attempt.completed');
    const logs = completed.map((entry) => (entry.data['artifacts'] as Record<string, unknown>)['environmentLog']);
    expect(logs).toHaveLength(3);
    expect(new Set(logs).size).toBe(1);
    expect(logs[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The items and attempts API show it: one item built the environment, the others reused it,
    // each with the setup's time and its log (served by GET /v1/blobs/{digest}); no egress record
    // without an allow-list.
    const listed = (await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; environment?: Record<string, unknown> }[];
    const environmentViews = listed.map((item) => item.environment);
    const digest = environments0(completed);
    for (const view of environmentViews) expect(view).toEqual({ attempt: 1, digest, built: expect.any(Boolean), setupMs: expect.any(Number), log: logs[0] });
    expect(environmentViews.map((view) => view!['built']).sort()).toEqual([false, false, true]);
    const setupMs = environmentViews.map((view) => view!['setupMs'] as number);
    expect(new Set(setupMs).size).toBe(1);
    expect(setupMs[0]).toBeGreaterThan(0);
    for (const { itemId } of listed) {
      const attempts = (await (await api(`/v1/runs/${runId}/items/${itemId}/attempts`)).json()) as { environment?: Record<string, unknown> }[];
      expect(attempts.map((attempt) => attempt.environment)).toEqual([{ digest, built: expect.any(Boolean), setupMs: setupMs[0], log: logs[0] }]);
    }
    const setupLog = await (await api(`/v1/blobs/${String(logs[0])}`)).text();
    expect(setupLog).toContain('setup done');
    const layers = findEnvironmentLayers(directory);
    expect(layers).toHaveLength(1);
    // /metrics counts one miss (the attempt that ran the setup) and two hits, and the setup's seconds.
    const metrics = await (await api('/metrics')).text();
    expect(metrics).toMatch(/^cairn_environment_attempts_total\{executor="[^"]+",cache="miss"\} 1$/m);
    expect(metrics).toMatch(/^cairn_environment_attempts_total\{executor="[^"]+",cache="hit"\} 2$/m);
    expect(Number(/^cairn_environment_setup_seconds_total\{[^}]*\} ([0-9.e-]+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);

    const bundleText = await (await fetch(`${base}/v1/runs/${runId}/bundle`, { headers: { authorization: `Bearer ${operatorToken}` } })).text();
    const bundle = JSON.parse(bundleText) as { artifacts: { kind: string; digest: string }[]; entries: { action: string; data: Record<string, unknown> }[] };
    // Each attempt.completed entry of the bundle names the environment; one says it ran the setup.
    const environments = bundle.entries
      .filter((entry) => entry.action === 'attempt.completed')
      .map((entry) => entry.data['environment'] as Record<string, unknown>);
    expect(environments).toHaveLength(3);
    expect(new Set(environments.map((environment) => environment['digest'])).size).toBe(1);
    expect(environments.map((environment) => environment['built']).sort()).toEqual([false, false, true]);
    expect(bundle.artifacts.filter((artifact) => artifact.kind === 'environment-log').map((artifact) => artifact.digest)).toEqual([logs[0], logs[0], logs[0]]);
    const report = await verifyBundle(new TextEncoder().encode(bundleText), { trustedKeys: [composition.signingKey] });
    expect(report.verdict, JSON.stringify(report.checks)).toBe('verified');
    expect(report.checks.find((check) => check.name === 'artifacts')).toMatchObject({ status: 'pass' });
  },
);

/** The environment digest the first `attempt.completed` entry names. */
function environments0(completed: readonly { data: Record<string, unknown> }[]): string {
  return (completed[0]!.data['environment'] as { digest: string }).digest;
}

/** The environment layers under a server's folder (`<snapshot cache>/.environments/<hex>`). */
function findEnvironmentLayers(root: string): string[] {
  const found: string[] = [];
  const visit = (folder: string, depth: number): void => {
    if (depth > 6) return;
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(folder, entry.name);
      if (entry.name === '.environments') found.push(...readdirSync(path).filter((name) => /^[0-9a-f]{64}$/.test(name)));
      else if (!['workspace', 'snapshot', 'tree', 'layer', 'lower', 'environment'].includes(entry.name)) visit(path, depth + 1);
    }
  };
  visit(root, 0);
  return found;
}
