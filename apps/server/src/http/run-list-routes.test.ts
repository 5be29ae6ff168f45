// GET /v1/runs over a real composition on a loopback port: pages newest first, filters, and every
// bad query parameter named.
import type { RunSpecV1 } from '@cairn/core';
import { createCairnClient, type RunView } from '@cairn/client';
import { expect, test } from 'vitest';
import { expectQueryRefusals } from './query-refusals.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const serve = runningServers();
const spec = (name: string): RunSpecV1 => ({ version: 1, name, items: [{ id: 'one', runtime: { kind: 'command', argv: ['/bin/true'] } }] });

test('pages through every run once, newest first, and filters by state', { timeout: 60_000 }, async () => {
  const { base, operatorToken, composition } = await serve();
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const submitted: string[] = [];
  for (let index = 0; index < 5; index++) submitted.push((await client.submit(spec(`run-${index}`))).runId);
  for (const runId of submitted) await composition.engine.waitForRun(runId);

  const seen: RunView[] = [];
  let page = await client.runs({ limit: 2 });
  let pages = 1;
  seen.push(...page.runs);
  while (page.nextCursor) {
    page = await client.runs({ limit: 2, cursor: page.nextCursor });
    seen.push(...page.runs);
    pages++;
  }
  expect(pages).toBe(3);
  expect(seen.map((run) => run.runId).sort()).toEqual([...submitted].sort());
  // Newest first: by submit time, then run id (two runs may share a millisecond).
  const key = (run: RunView) => `${String(run['submittedAt'])} ${run.runId}`;
  expect(seen.map(key)).toEqual(seen.map(key).sort().reverse());
  expect(seen.find((run) => run.name === 'run-4')).toMatchObject({
    state: 'succeeded',
    itemsTotal: 1,
    itemsSucceeded: 1,
    itemsReused: 0,
    submittedBy: expect.stringMatching(/^token:/),
    finishedAt: expect.any(String),
  });
  expect((await client.runs({ state: 'succeeded' })).runs).toHaveLength(5);
  expect((await client.runs({ state: 'failed' })).runs).toEqual([]);
  // The client's iterator walks the same pages for its caller.
  const iterated: string[] = [];
  for await (const run of client.allRuns({ limit: 2 })) iterated.push(run.runId);
  expect(iterated).toEqual(seen.map((run) => run.runId));
  for await (const run of client.allRuns({ state: 'failed' })) throw new Error(`no run failed, yet ${run.runId} came back`);
});

test('a bad query parameter is CAIRN_PAYLOAD_INVALID naming query.<name>; reading runs needs runs:read', { timeout: 30_000 }, async () => {
  const { api, base, composition } = await serve();
  await expectQueryRefusals(api, '/v1/runs', [
    ['limit=0', 'query.limit'],
    ['limit=many', 'query.limit'],
    ['limit=501', 'query.limit'],
    ['state=sleeping', 'query.state'],
    ['cursor=not-one-of-ours', 'query.cursor'],
  ]);
  const unknown = await api('/v1/runs?colour=red');
  expect(unknown.status).toBe(400);
  expect(await unknown.json()).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringContaining('colour') });
  const { token } = await composition.tokens.create('auditor', ['audit:read']);
  expect((await fetch(`${base}/v1/runs`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
});
