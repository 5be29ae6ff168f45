// A grown run's whole graph through a real server (SQLite, the local executor, bubblewrap where the
// machine has it) and the client: a planner's fragment with its own edges and the join of what
// waited on the planner, a forEach item's instances and their join, a merge's re-run of a producer
// that conflicted, each node's group; a graph read a page at a time; an unknown run is a 404, a
// token without runs:read a 403.
import { createCairnClient } from '@cairn/client';
import { isCairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { guideExample } from './guide-example.test-support.ts';
import { expectQueryRefusals } from './query-refusals.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
// Two producers that append to the same file, merged with onConflict: rerun: beta's patch conflicts
// and beta runs again on alpha's as combine/beta (docs/guides/merging-patches.md).
const { spec: mergeGuideSpec, workspace: mergeGuideWorkspace } = guideExample('merging-patches.md', 'notes');

const command = (script: string) => ({ kind: 'command' as const, argv: ['/bin/sh', '-c', script] });
// The planner's fragment: b waits on a (an edge inside the fragment) and names the planner (which
// has succeeded when b joins: no stored wait, still a dependency); b and c are its last items. Its
// items wait for an approval no one gives: the graph is read as the run stands, once it has grown.
const fragment = {
  items: [
    { id: 'a', approval: 'required', runtime: command('true') },
    { id: 'b', dependsOn: ['a', 'plan'], runtime: command('true') },
    { id: 'c', approval: 'required', runtime: command('true') },
  ],
};
const planned = {
  version: 1 as const,
  name: 'grown-by-a-planner',
  items: [
    { id: 'plan', emits: { maxItems: 10 }, runtime: command(`printf '%s' '${JSON.stringify(fragment)}' > output.json`) },
    { id: 'report', dependsOn: ['plan'], runtime: command('true') },
  ],
};
const mapped = {
  version: 1 as const,
  name: 'grown-by-a-map',
  items: [
    { id: 'list', runtime: command(`printf '{"files":["x","y"]}' > output.json`) },
    { id: 'each', forEach: { from: 'list', select: 'output' as const, path: '$.files', maxItems: 10 }, runtime: command('true') },
    { id: 'after', dependsOn: ['each'], approval: 'required' as const, runtime: command('true') },
  ],
};

test(
  "a grown run's graph: a fragment's own edges, the joins of what waited on its planner, a forEach item or a merge's re-run, whole and by page; 404, 403",
  { timeout: 60_000 },
  async () => {
    const { base, api, composition, operatorToken } = await start();
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const [plannedRun, mappedRun, rerunRun] = await Promise.all([
      client.submit(planned),
      client.submit(mapped),
      client.submit(mergeGuideSpec('release-notes'), { workspace: mergeGuideWorkspace() }),
    ]);
    const settled = async (runId: string, states: Readonly<Record<string, string>>) => {
      const deadline = Date.now() + 45_000;
      for (;;) {
        const items = Object.fromEntries((await client.items(runId)).map((item) => [item.itemId, item.state]));
        if (JSON.stringify(items) === JSON.stringify(states) || Date.now() > deadline) return items;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const plannedStates = { plan: 'succeeded', report: 'blocked', 'plan/a': 'awaiting-approval', 'plan/b': 'blocked', 'plan/c': 'awaiting-approval' };
    const mappedStates = { list: 'succeeded', each: 'succeeded', after: 'awaiting-approval', 'each/0': 'succeeded', 'each/1': 'succeeded' };
    expect(await settled(plannedRun.runId, plannedStates)).toEqual(plannedStates);
    expect(await settled(mappedRun.runId, mappedStates)).toEqual(mappedStates);
    // Read as it stands once the merge has added the re-run (which then runs, and the merge again).
    const deadline = Date.now() + 45_000;
    while (!(await client.items(rerunRun.runId)).some((item) => item.itemId === 'combine/beta') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    const rerunGraph = await client.graph(rerunRun.runId);
    expect(rerunGraph.nodes.slice(0, 2).map((item) => item.state)).toEqual(['succeeded', 'succeeded']);
    expect({ ...rerunGraph, nodes: rerunGraph.nodes.map(({ state: _state, ...rest }) => rest) }).toEqual({
      runId: rerunRun.runId,
      nodes: [
        { itemId: 'alpha', position: 0, kind: 'command' },
        { itemId: 'beta', position: 1, kind: 'command' },
        { itemId: 'combine', position: 2, kind: 'merge', grows: 'rerun' },
        { itemId: 'combine/beta', position: 3, kind: 'command', group: 'combine' },
      ],
      // The re-run needs alpha's patch (merged-1); the merge waits on it in beta's place, which its spec does not name.
      edges: [
        { from: 'alpha', to: 'combine', kind: 'dependency' },
        { from: 'beta', to: 'combine', kind: 'dependency' },
        { from: 'alpha', to: 'combine/beta', kind: 'dependency' },
        { from: 'combine/beta', to: 'combine', kind: 'join' },
      ],
      groups: [{ id: 'combine', reason: 'rerun', items: 1 }],
    });

    const node = (itemId: string, position: number, more: object = {}) => ({ itemId, position, kind: 'command', ...more });
    const dependency = (from: string, to: string) => ({ from, to, kind: 'dependency' });
    const join = (from: string, to: string) => ({ from, to, kind: 'join' });
    const byPlanner = {
      runId: plannedRun.runId,
      nodes: [
        node('plan', 0, { state: 'succeeded', grows: 'planner' }),
        node('report', 1, { state: 'blocked' }),
        node('plan/a', 2, { state: 'awaiting-approval', group: 'plan' }),
        node('plan/b', 3, { state: 'blocked', group: 'plan' }),
        node('plan/c', 4, { state: 'awaiting-approval', group: 'plan' }),
      ],
      // Node by node: what each waits on as its spec names it, then the joins out of it.
      edges: [dependency('plan', 'report'), dependency('plan/a', 'plan/b'), dependency('plan', 'plan/b'), join('plan/b', 'report'), join('plan/c', 'report')],
      groups: [{ id: 'plan', reason: 'planner', items: 3 }],
    };
    expect(await client.graphPage(plannedRun.runId)).toEqual(byPlanner);
    expect(await client.graph(mappedRun.runId)).toEqual({
      runId: mappedRun.runId,
      nodes: [
        node('list', 0, { state: 'succeeded' }),
        node('each', 1, { state: 'succeeded', grows: 'forEach' }),
        node('after', 2, { state: 'awaiting-approval' }),
        node('each/0', 3, { state: 'succeeded', group: 'each' }),
        node('each/1', 4, { state: 'succeeded', group: 'each' }),
      ],
      edges: [
        dependency('list', 'each'),
        dependency('each', 'after'),
        dependency('list', 'each/0'),
        join('each/0', 'after'),
        dependency('list', 'each/1'),
        join('each/1', 'after'),
      ],
      groups: [{ id: 'each', reason: 'forEach', items: 2 }],
    });

    // Two nodes a page: every node and every edge once, a join on its prerequisite's page (report,
    // on the first page, waits on plan/b and plan/c, on the next ones).
    expect(await client.graphPage(plannedRun.runId, { limit: 2, cursor: '1' })).toEqual({
      runId: plannedRun.runId,
      nodes: byPlanner.nodes.slice(2, 4),
      edges: [dependency('plan/a', 'plan/b'), dependency('plan', 'plan/b'), join('plan/b', 'report')],
      groups: [{ id: 'plan', reason: 'planner', items: 2 }],
      nextCursor: '3',
    });
    expect(await client.graphPage(plannedRun.runId, { limit: 2, cursor: '3' })).toEqual({
      runId: plannedRun.runId,
      nodes: byPlanner.nodes.slice(4),
      edges: [join('plan/c', 'report')],
      groups: [{ id: 'plan', reason: 'planner', items: 1 }],
    });
    expect(await client.graph(plannedRun.runId, { limit: 2 })).toEqual(byPlanner);

    const refusal = await client.graph('r-nope').then(
      () => undefined,
      (error: unknown) => (isCairnError(error) ? { code: error.code, path: error.path, message: error.message } : error),
    );
    expect(refusal).toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'runId', message: expect.stringContaining('r-nope') });
    await expectQueryRefusals(api, `/v1/runs/${plannedRun.runId}/graph`, [
      ['limit=0', 'query.limit'],
      ['limit=10001', 'query.limit'],
      ['cursor=-1', 'query.cursor'],
      ['cursor=one', 'query.cursor'],
    ]);
    const { token } = await composition.tokens.create('submitter', ['runs:submit']);
    const forbidden = await fetch(`${base}/v1/runs/${plannedRun.runId}/graph`, { headers: { authorization: `Bearer ${token}` } });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ code: 'CAIRN_FORBIDDEN' });
  },
);
