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
    ['submittedAfter=yesterday', 'query.submittedAfter'],
    ['submittedAfter=2026-11-22', 'query.submittedAfter'],
    ['submittedBefore=2026-11-22T10:00:00', 'query.submittedBefore'],
    ['name=', 'query.name'],
    ['submitter=', 'query.submitter'],
  ]);
  const unknown = await api('/v1/runs?colour=red');
  expect(unknown.status).toBe(400);
  expect(await unknown.json()).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringContaining('colour') });
  const { token } = await composition.tokens.create('auditor', ['audit:read']);
  expect((await fetch(`${base}/v1/runs`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
});

test('filters by exact name, by submitter and by submit time, through the API and the client, and pages within the filters', { timeout: 60_000 }, async () => {
  const { base, composition } = await serve();
  const ana = await composition.tokens.create('ana', ['runs:read', 'runs:submit']);
  const bo = await composition.tokens.create('bo', ['runs:read', 'runs:submit']);
  const asAna = createCairnClient({ baseUrl: base, token: ana.token });
  const asBo = createCairnClient({ baseUrl: base, token: bo.token });
  const first = (await asAna.submit(spec('nightly'))).runId;
  await new Promise((resolve) => setTimeout(resolve, 5));
  const second = (await asBo.submit(spec('release'))).runId;
  await new Promise((resolve) => setTimeout(resolve, 5));
  const third = (await asBo.submit(spec('nightly'))).runId;
  const [secondRun, thirdRun] = [await asAna.run(second), await asAna.run(third)];
  const ids = async (filters: Parameters<typeof asAna.runs>[0]) => (await asAna.runs(filters)).runs.map((run) => run.runId);

  expect(await ids({ name: 'nightly' })).toEqual([third, first]);
  expect(await ids({ name: 'night' })).toEqual([]);
  const boId = String(secondRun['submittedBy']);
  expect(boId).toMatch(/^token:/);
  expect(await ids({ submitter: boId })).toEqual([third, second]);
  expect(await ids({ submitter: boId, name: 'nightly' })).toEqual([third]);
  expect(await ids({ submittedAfter: String(secondRun['submittedAt']) })).toEqual([third, second]);
  expect(await ids({ submittedAfter: String(secondRun['submittedAt']), submittedBefore: String(thirdRun['submittedAt']) })).toEqual([second]);
  // The client's iterator pages within the filters.
  const iterated: string[] = [];
  for await (const run of asAna.allRuns({ name: 'nightly', limit: 1 })) iterated.push(run.runId);
  expect(iterated).toEqual([third, first]);

  // A cursor carries its filters: with other ones it is refused.
  const page = await asAna.runs({ name: 'nightly', limit: 1 });
  const mixed = await fetch(`${base}/v1/runs?name=release&limit=1&cursor=${page.nextCursor!}`, { headers: { authorization: `Bearer ${ana.token}` } });
  expect(mixed.status).toBe(400);
  expect(await mixed.json()).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringContaining('other filters') });
  const bad = await fetch(`${base}/v1/runs?submittedAfter=last%20week`, { headers: { authorization: `Bearer ${ana.token}` } });
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringContaining('submittedAfter') });
});
