// GET /v1/audit over a real composition on a loopback port: NDJSON lines exactly as the log holds
// its entries, gapless within a range, filtered, and checked against a signed checkpoint.
import type { AuditEntry, RunSpecV1 } from '@cairn/core';
import { auditLeafHash, readLogNdjson, verifyLog } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { expectQueryRefusals } from '../../http/query-refusals.test-support.ts';
import { runningServers } from '../../http/running-server.test-support.ts';

const serve = runningServers();
const spec = (name: string): RunSpecV1 => ({
  version: 1,
  name,
  items: [
    { id: 'one', runtime: { kind: 'command', argv: ['/bin/true'] } },
    { id: 'two', dependsOn: ['one'], runtime: { kind: 'command', argv: ['/bin/true'] } },
  ],
});

async function serverWithTwoRuns() {
  const server = await serve();
  const client = createCairnClient({ baseUrl: server.base, token: server.operatorToken });
  const first = (await client.submit(spec('first'))).runId;
  const second = (await client.submit(spec('second'))).runId;
  await server.composition.engine.waitForRun(first);
  await server.composition.engine.waitForRun(second);
  return { ...server, client, first, second };
}

async function exported(api: (path: string) => Promise<Response>, query: string): Promise<AuditEntry[]> {
  const response = await api(`/v1/audit${query}`);
  expect(response.status, await response.clone().text()).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  return readLogNdjson(await response.text());
}

test('the whole log as NDJSON: gapless, each line recomputing its stored leaf, and verifying against a signed checkpoint', { timeout: 60_000 }, async () => {
  const { api, client, composition, first, keyId } = await serverWithTwoRuns();
  // The bundle first: its checkpoint may be issued as it is asked for, and must be covered by the export.
  const bundle = JSON.parse(new TextDecoder().decode(await client.bundle(first)));
  const entries = await exported(api, '');
  const { engine } = composition;
  expect(entries.length).toBeGreaterThan(10);
  expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, index) => index));
  for (const entry of entries) expect(Buffer.from(auditLeafHash(entry)).equals(Buffer.from(engine.audit.merkle.leafHash(entry.seq)))).toBe(true);
  // The run's bundle carries a checkpoint signed by the server's key: the export recomputes its root.
  expect(bundle.keys.map((key: { keyId: string }) => key.keyId)).toEqual([keyId]);
  expect(verifyLog(entries, bundle.checkpoint, bundle.keys)).toMatchObject({ valid: true });
  const range = await exported(api, '?from=3&to=9');
  expect(range.map((entry) => entry.seq)).toEqual([3, 4, 5, 6, 7, 8]);
  expect(range).toEqual(entries.slice(3, 9));
});

test('filters by run, action, actor and time, as the log holds them', { timeout: 60_000 }, async () => {
  const { api, client, composition, first, second } = await serverWithTwoRuns();
  const { engine } = composition;
  expect(await exported(api, `?runId=${first}`)).toEqual(engine.audit.runEntries(first));
  const submitted = await exported(api, '?action=run.submitted');
  expect(submitted.map((entry) => entry.runId)).toEqual([first, second]);
  const byActor = await exported(api, `?actor=${encodeURIComponent(submitted[0]!.actor.id)}`);
  expect(byActor.map((entry) => entry.action)).toEqual(['run.submitted', 'run.submitted']);
  expect(await exported(api, `?runId=${second}&action=run.submitted`)).toEqual([submitted[1]]);
  // Up to a fixed end: the checkpoint timer may append entries between these reads.
  const end = engine.audit.size;
  const all = await exported(api, `?to=${end}`);
  const middle = all[Math.floor(all.length / 2)]!;
  const since = await exported(api, `?since=${encodeURIComponent(middle.time)}&to=${end}`);
  expect(since).toEqual(all.filter((entry) => entry.time >= middle.time));
  const until = await exported(api, `?until=${encodeURIComponent(middle.time)}&to=${end}`);
  expect([...until, ...since]).toEqual(all);
  // The client reads the same stream line by line.
  const streamed: AuditEntry[] = [];
  for await (const entry of client.auditEntries({ runId: second })) streamed.push(entry);
  expect(streamed).toEqual(engine.audit.runEntries(second));
});

test('a bad query parameter is CAIRN_PAYLOAD_INVALID naming query.<name>; without audit:read it is 403 and audited', { timeout: 30_000 }, async () => {
  const { api, base, composition } = await serve();
  await expectQueryRefusals(api, '/v1/audit', [
    ['from=-1', 'query.from'],
    ['to=ten', 'query.to'],
    ['action=run.exploded', 'query.action'],
    ['since=yesterday', 'query.since'],
    ['until=2026-13-01T00:00:00Z', 'query.until'],
    ['runId=', 'query.runId'],
  ]);
  const { token, record } = await composition.tokens.create('reader', ['runs:read', 'runs:submit']);
  const refused = await fetch(`${base}/v1/audit`, { headers: { authorization: `Bearer ${token}` } });
  expect(refused.status).toBe(403);
  expect(await refused.json()).toMatchObject({ code: 'CAIRN_FORBIDDEN' });
  const denied = [...composition.engine.audit.query({ action: 'access.denied' })];
  expect(denied.map((entry) => entry.actor.id)).toEqual([`token:${record.id}`]);
  await expect(createCairnClient({ baseUrl: base, token }).auditEntries().next()).rejects.toMatchObject({ code: 'CAIRN_FORBIDDEN' });
});

test('a client that stops reading part way leaves the server answering', { timeout: 60_000 }, async () => {
  const { api, composition } = await serve();
  // Enough entries for the answer to span many chunks.
  // Written as the server writes what it owns (the engine's audit log has no append of its own).
  for (let index = 0; index < 3_000; index++)
    await composition.service.hostAudit.accessDenied({
      actor: { kind: 'system', id: 'filler', via: 'http' },
      entity: { kind: 'server', id: 'server' },
      requestedAction: 'audit.read',
      reason: `filler ${index}`,
    });
  const controller = new AbortController();
  const response = await api('/v1/audit', { signal: controller.signal });
  const reader = response.body!.getReader();
  expect((await reader.read()).done).toBe(false);
  controller.abort();
  await reader.cancel().catch(() => undefined);
  const again = await exported(api, '?from=2990');
  // The checkpoint timer may append entries while the export runs: compare what it returned with the log.
  expect(again.length).toBeGreaterThanOrEqual(10);
  expect(again.map((entry) => entry.seq)).toEqual(Array.from({ length: again.length }, (_, index) => 2_990 + index));
  expect((await api('/readyz')).status).toBe(200);
});
