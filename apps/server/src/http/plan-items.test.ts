// A planner item through a real server (SQLite, directory storage, the local executor, bubblewrap
// where the machine has it): the guide "plan, fan out, merge" runs as written — a plain script
// plans one item per file and a merge of their patches, the run grows by them, what depended on
// the planner waits for all of them, and the run's evidence bundle carries the fragment and verifies.
import { verifyBundle } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { runCli } from '../cli/run-cli.test-support.ts';
import { guideExample } from './guide-example.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const { spec, workspace: guideWorkspace } = guideExample('plan-fan-out-merge.md', 'notes');

test(
  "the guide's example: a script plans a fix per file and their merge; the run grows by them and what waited on the planner ran last",
  { timeout: 90_000 },
  async () => {
    const { base, operatorToken, composition } = await start();
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const { runId } = await client.submit(spec('plan-fan-out-merge'), { workspace: guideWorkspace() });
    const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) });
    const items = await client.items(runId);
    expect(run.state, JSON.stringify(items, null, 2)).toBe('succeeded');
    expect(items.map(({ itemId, state }) => [itemId, state])).toEqual([
      ['plan', 'succeeded'],
      ['report', 'succeeded'],
      ['plan/fix-alpha', 'succeeded'],
      ['plan/fix-beta', 'succeeded'],
      ['plan/combine', 'succeeded'],
    ]);
    // `cairn status` lists the planned items under their planner, as the guide says.
    const status = await runCli(['status', runId, '--server', base], { env: { CAIRN_TOKEN: operatorToken } });
    expect(status.stdout.split('\n').slice(1, 6)).toEqual([
      '  plan             succeeded',
      '    plan/fix-alpha succeeded',
      '    plan/fix-beta  succeeded',
      '    plan/combine   succeeded',
      '  report           succeeded',
    ]);
    const combined = await client.patch(runId, 'plan/combine');
    expect(combined).toContain('-alpha: todo\n+alpha: done\n');
    expect(combined).toContain('-beta: todo\n+beta: done\n');
    expect(combined.match(/^diff --git /gm)).toHaveLength(2);

    // `report` was dispatched after every planned item had ended.
    const entries = [...composition.engine.audit.runEntries(runId)];
    const at = (action: string, itemId: string) => entries.findIndex((entry) => entry.action === action && entry.data['itemId'] === itemId);
    for (const itemId of ['plan/fix-alpha', 'plan/fix-beta', 'plan/combine'])
      expect(at('attempt.completed', itemId)).toBeLessThan(at('attempt.dispatched', 'report'));
    expect(entries.filter((entry) => entry.action === 'run.extended').map((entry) => entry.data)).toEqual([
      { attempt: 1, emitter: 'plan', fragment: expect.stringMatching(/^sha256:/), items: 3 },
    ]);

    // The bundle carries the fragment; completeness proves the graph is the spec's two items and its three.
    const bundle = await (await fetch(`${base}/v1/runs/${runId}/bundle`, { headers: { authorization: `Bearer ${operatorToken}` } })).text();
    const report = await verifyBundle(new TextEncoder().encode(bundle), {
      trustedKeys: [composition.signingKey],
      readAnchor: (receipt) => composition.anchors[0]!.read(receipt),
    });
    expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true });
    expect(report.checks.find((check) => check.name === 'completeness')?.detail).toContain("the spec's 2 items and those of 1 planner fragments");
  },
);

test(
  "the guide's map: one instance per file the list names, each given its element, and what waited on the item ran after both",
  { timeout: 90_000 },
  async () => {
    const { base, operatorToken } = await start();
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const { runId } = await client.submit(spec('map-over-notes'), { workspace: guideWorkspace() });
    const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) });
    const items = await client.items(runId);
    expect(run.state, JSON.stringify(items, null, 2)).toBe('succeeded');
    expect(items.map(({ itemId, state }) => [itemId, state])).toEqual([
      ['todo', 'succeeded'],
      ['fix', 'succeeded'],
      ['report', 'succeeded'],
      ['fix/0', 'succeeded'],
      ['fix/1', 'succeeded'],
    ]);
    expect(await client.patch(runId, 'fix/0')).toContain('-alpha: todo\n+alpha: done\n');
    expect(await client.patch(runId, 'fix/1')).toContain('-beta: todo\n+beta: done\n');
  },
);
