// The HTTP API over a real composition (SQLite, directory storage, key-file signer, file anchor,
// bubblewrap executor where the machine has it), on a loopback port, spoken to with fetch.
import type { CairnEvent } from '@cairn/core';
import { verifyBundle } from '@cairn/audit';
import { expect, test } from 'vitest';
import type { ServerComposition } from '../composition/server-composition.ts';
import { tokenScopes, type TokenScope } from '../capabilities/access/token-scopes.ts';
import { buildHttpApi } from './http-server.ts';
import { runningServers } from './running-server.test-support.ts';
import { sseEvents } from './sse-events.test-support.ts';

const serve = runningServers();

const yaml = (name: string) =>
  `version: 1\nname: ${name}\nitems:\n  - { id: write, runtime: { kind: command, argv: [/bin/sh, -c, "echo hello > hello.txt"] } }\n  - { id: after, dependsOn: [write], runtime: { kind: command, argv: [/bin/true] } }\n`;

async function waitForState(api: (path: string) => Promise<Response>, runId: string, states: string[]): Promise<Record<string, unknown>> {
  for (let wait = 0; wait < 400; wait++) {
    const run = (await (await api(`/v1/runs/${runId}`)).json()) as Record<string, unknown>;
    if (states.includes(String(run['state']))) return run;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`run ${runId} never reached ${states.join('|')}`);
}

/** Reads server-sent events from `url` until `enough` says so; returns them. */
async function readEvents(
  api: (path: string, init?: RequestInit) => Promise<Response>,
  path: string,
  headers: Record<string, string>,
  enough: (events: CairnEvent[]) => boolean,
): Promise<CairnEvent[]> {
  const controller = new AbortController();
  const response = await api(path, { headers, signal: controller.signal });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: CairnEvent[] = [];
  for await (const { event } of sseEvents(response.body!)) {
    events.push(event);
    if (enough(events)) break;
  }
  controller.abort();
  return events;
}

test('submit YAML, follow the run to its end, fetch its patch by digest, and export evidence that verifies', { timeout: 60_000 }, async () => {
  const { api, composition } = await serve();
  const submitted = await api(`/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml('hello') });
  expect(submitted.status).toBe(201);
  const { runId } = (await submitted.json()) as { runId: string };
  expect(await waitForState(api, runId, ['succeeded', 'failed'])).toMatchObject({ state: 'succeeded', itemsTotal: 2 });
  const items = (await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; state: string }[];
  expect(items.map((item) => [item.itemId, item.state])).toEqual([
    ['write', 'succeeded'],
    ['after', 'succeeded'],
  ]);

  const completed = composition.engine.audit.runEntries(runId).find((entry) => entry.action === 'attempt.completed' && entry.data['itemId'] === 'write')!;
  const patchDigest = (completed.data['artifacts'] as Record<string, string>)['patch']!;
  const patch = await api(`/v1/blobs/${patchDigest}`);
  expect(patch.headers.get('content-type')).toBe('application/octet-stream');
  expect(await patch.text()).toContain('+hello');

  const bundle = await api(`/v1/runs/${runId}/bundle`);
  const report = await verifyBundle(new Uint8Array(await bundle.arrayBuffer()), {
    trustedKeys: [composition.signingKey],
    readAnchor: (receipt) => composition.anchors[0]!.read(receipt),
  });
  expect(report).toMatchObject({ valid: true });
});

test('events: a stream resumed with Last-Event-ID continues exactly where it stopped', { timeout: 60_000 }, async () => {
  const { api } = await serve();
  const { runId } = (await (await api(`/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml('events') })).json()) as {
    runId: string;
  };
  await waitForState(api, runId, ['succeeded', 'failed']);
  const done = (events: CairnEvent[]) => events.some((event) => event.type === 'run.state' && event.state === 'succeeded');
  const all = await readEvents(api, `/v1/runs/${runId}/events`, {}, done);
  const first = await readEvents(api, `/v1/runs/${runId}/events`, {}, (events) => events.length >= 3);
  const rest = await readEvents(api, `/v1/runs/${runId}/events`, { 'last-event-id': String(first[2]!.id) }, done);
  expect([...first.slice(0, 3), ...rest]).toEqual(all);
  expect(all[0]).toMatchObject({ type: 'run.state', state: 'queued', runId });
});

test("a run's event stream ends after its terminal state; an unknown run's is a 404", { timeout: 60_000 }, async () => {
  const { api } = await serve();
  const { runId } = (await (await api(`/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml('ends') })).json()) as {
    runId: string;
  };
  await waitForState(api, runId, ['succeeded', 'failed']);
  // The whole body arrives and the response ends: nothing is left open for a finished run.
  const text = await (await api(`/v1/runs/${runId}/events`)).text();
  const blocks = text.split('\n\n').filter((block) => block.includes('data: '));
  expect(blocks.at(-1)).toContain('"type":"run.state"');
  expect(blocks.at(-1)).toMatch(/"state":"(succeeded|failed)"/);
  // Resumed past its terminal state, it ends too, empty (it waited for ever).
  const lastId = /^id: (\d+)$/m.exec(blocks.at(-1)!)![1]!;
  const resumed = await api(`/v1/runs/${runId}/events`, { headers: { 'last-event-id': lastId }, signal: AbortSignal.timeout(10_000) });
  expect((await resumed.text()).includes('data: ')).toBe(false);
  const unknown = await api('/v1/runs/r-nothing/events');
  expect(unknown.status).toBe(404);
  expect(await unknown.json()).toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'runId' });
});

test(
  'events ?types=: only those types are sent, ids stay the audit sequence (a resume skips nothing asked for), a run stream still ends with the run; an unknown type is a 400',
  { timeout: 60_000 },
  async () => {
    const { api } = await serve();
    const { runId } = (await (await api(`/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml('types') })).json()) as {
      runId: string;
    };
    await waitForState(api, runId, ['succeeded', 'failed']);
    const streamed = async (path: string, headers: Record<string, string> = {}) => {
      const events: { id: number | undefined; event: CairnEvent }[] = [];
      // The whole body: each run stream must end by itself.
      for await (const event of sseEvents((await api(path, { headers })).body!)) events.push(event);
      return events;
    };
    const all = await streamed(`/v1/runs/${runId}/events`);
    expect(new Set(all.map(({ event }) => event.type))).toEqual(new Set(['run.state', 'item.state', 'attempt.state']));
    const ofTypes = (types: string[]) => all.filter(({ event }) => types.includes(event.type));
    expect(await streamed(`/v1/runs/${runId}/events?types=run.state`)).toEqual(ofTypes(['run.state']));
    expect(await streamed(`/v1/runs/${runId}/events?types=item.state,attempt.state`)).toEqual(ofTypes(['item.state', 'attempt.state']));
    // Without run.state, the stream still ends once the run's end is passed.
    const items = await streamed(`/v1/runs/${runId}/events?types=item.state`);
    expect(items).toEqual(ofTypes(['item.state']));
    const resumed = await streamed(`/v1/runs/${runId}/events?types=item.state`, { 'last-event-id': String(items[1]!.id) });
    expect(resumed).toEqual(items.slice(2));
    // The stream of every run's events takes the same filter.
    const controller = new AbortController();
    const global: CairnEvent[] = [];
    for await (const { event } of sseEvents((await api('/v1/events?types=run.state&after=-1', { signal: controller.signal })).body!)) {
      global.push(event);
      if (event.runId === runId && event.type === 'run.state' && event.state === 'succeeded') break;
    }
    controller.abort();
    expect(global.every((event) => event.type === 'run.state')).toBe(true);
    expect(global.filter((event) => event.runId === runId)).toEqual(ofTypes(['run.state']).map(({ event }) => event));
    for (const bad of ['run.stat', 'run.state,', 'run.state,item.state,audit.entry']) {
      const refused = await api(`/v1/runs/${runId}/events?types=${bad}`);
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'query.types' });
    }
  },
);

test(
  'one idempotency key, 100 concurrent submits: one run (one 201, 99 200, every answer naming it); another spec under it is a conflict',
  { timeout: 60_000 },
  async () => {
    const { api, composition } = await serve();
    const submit = (body: string) => api(`/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/yaml', 'idempotency-key': 'nightly-1' }, body });
    const responses = await Promise.all(Array.from({ length: 100 }, () => submit(yaml('same'))));
    const bodies = (await Promise.all(responses.map((response) => response.json()))) as { runId: string; created: boolean }[];
    expect(bodies).toHaveLength(100);
    expect(new Set(bodies.map((body) => body.runId)).size).toBe(1);
    expect(bodies.filter((body) => body.created)).toHaveLength(1);
    expect(responses.map((response) => response.status).sort((a, b) => a - b)).toEqual([...Array(99).fill(200), 201]);
    const runs = [...composition.engine.audit.entries()].filter((entry) => entry.action === 'run.submitted');
    expect(runs.map((entry) => entry.runId)).toEqual([bodies[0]!.runId]);
    const conflict = await submit(yaml('other'));
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ code: 'CAIRN_IDEMPOTENCY_CONFLICT' });
  },
);

test(
  'errors are JSON with the catalogue code, status and where: invalid spec, unknown run and route, bad digest, oversize body',
  { timeout: 60_000 },
  async () => {
    const { api } = await serve();
    const invalid = await api(`/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, name: 'x', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, dependsOn: ['ghost'] }] }),
    });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({
      code: 'CAIRN_RUN_SPEC_INVALID',
      path: '$.items[0].dependsOn[0]',
      action: expect.any(String),
      issues: [expect.objectContaining({ path: '$.items[0].dependsOn[0]' })],
    });
    expect(await (await api(`/v1/runs/r-missing`)).json()).toMatchObject({ code: 'CAIRN_NOT_FOUND', path: 'runId' });
    const unknownRoute = await api(`/v2/anything`);
    expect([unknownRoute.status, ((await unknownRoute.json()) as { code: string }).code]).toEqual([404, 'CAIRN_NOT_FOUND']);
    const badDigest = await api(`/v1/blobs/md5:abc`);
    expect([badDigest.status, ((await badDigest.json()) as { code: string; path: string }).path]).toEqual([400, 'params.digest']);
    const huge = await api(`/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: `# ${'x'.repeat(35 * 1024 * 1024)}\n` });
    expect([huge.status, ((await huge.json()) as { code: string }).code]).toEqual([413, 'CAIRN_RUN_SPEC_TOO_LARGE']);
    const approveNothing = await api(`/v1/runs/r-missing/items/a/approve`, { method: 'POST' });
    expect(approveNothing.status).toBe(404);
  },
);

/** The code of an error answer; a HEAD answer has no body, so its status is all it says (taken as the code it stands for). */
async function errorCodeOf(response: Response, method: string): Promise<string> {
  if (method !== 'HEAD') return ((await response.json()) as { code: string }).code;
  return response.status === 401 ? 'CAIRN_UNAUTHENTICATED' : response.status === 403 ? 'CAIRN_FORBIDDEN' : `status ${response.status}`;
}

test(
  'every operation the OpenAPI document secures: 401 without a token, 403 with every scope but the one it names (audited)',
  { timeout: 60_000 },
  async () => {
    const { base, api, composition } = await serve();
    const document = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: { bearerToken: string[] }[] }>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        method: method.toUpperCase(),
        path: path
          .replace('{runId}', 'r-x')
          .replace('{itemId}', 'a')
          .replace(/\{[a-zA-Z]+\}/g, (name) => (name === '{digest}' ? `sha256:${'0'.repeat(64)}` : 'x')),
        scope: operation.security?.[0]?.bearerToken[0],
      })),
    );
    // Every /v1 operation is secured but the exchange of a one-time sign-in code (its body is the
    // credential), how to sign in (what a client reads before it has a token) and a GitHub, Linear
    // or Slack delivery and a Standard Webhooks one (each signed with its sender's secret), and only
    // health and the document itself are open.
    expect(
      operations
        .filter((operation) => operation.scope === undefined)
        .map((operation) => operation.path)
        .sort(),
    ).toEqual([
      '/healthz',
      '/readyz',
      '/v1/session/redeem',
      '/v1/sign-in',
      '/v1/triggers/github',
      '/v1/triggers/linear',
      '/v1/triggers/slack',
      '/v1/triggers/webhooks/x',
    ]);
    const secured = operations.filter((operation) => operation.scope !== undefined);
    expect(secured.length).toBeGreaterThanOrEqual(15);
    for (const { method, path } of secured) {
      const anonymous = await fetch(`${base}${path}`, { method });
      expect([path, method, anonymous.status, await errorCodeOf(anonymous, method)]).toEqual([path, method, 401, 'CAIRN_UNAUTHENTICATED']);
    }
    const allBut = new Map(
      await Promise.all(
        tokenScopes.map(
          async (lacking) =>
            [
              lacking as TokenScope,
              (
                await composition.tokens.create(
                  `all but ${lacking.replace(':', ' ')}`,
                  tokenScopes.filter((scope) => scope !== lacking && scope !== 'admin'),
                )
              ).token,
            ] as const,
        ),
      ),
    );
    for (const { method, path, scope } of secured) {
      const token = allBut.get(scope as TokenScope);
      expect(token, `${method} ${path} names ${scope}, a scope tokens can hold`).toBeDefined();
      const denied = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
      expect([path, method, denied.status, await errorCodeOf(denied.clone(), method)]).toEqual([path, method, 403, 'CAIRN_FORBIDDEN']);
      // A token's holder is told to use a token with the scope (a person signed in through the
      // identity provider is told otherwise: login.test.ts).
      if (method !== 'HEAD')
        expect(((await denied.json()) as { action: string }).action).toBe(
          `Use a token with the ${scope} scope: an admin makes one with \`cairn token create --name NAME --scope ${scope}\` in the server's folder.`,
        );
    }
    expect([...composition.engine.audit.entries()].filter((entry) => entry.action === 'access.denied')).toHaveLength(secured.length);
    const { token: reader } = await composition.tokens.create('reader', ['runs:read']);
    expect((await fetch(`${base}/v1/runs/r-x`, { headers: { authorization: `Bearer ${reader}` } })).status).toBe(404);
    await composition.tokens.revoke((await composition.tokens.list()).find((record) => record.name === 'reader')!.id);
    expect((await fetch(`${base}/v1/runs/r-x`, { headers: { authorization: `Bearer ${reader}` } })).status).toBe(401);
    expect((await api('/v1/runs/r-x')).status).toBe(404);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  },
);

test('loopback-operator mode needs no token, and is refused on any other host', { timeout: 60_000 }, async () => {
  const { api } = await serve('loopback-operator');
  const submitted = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml('laptop') });
  expect(submitted.status).toBe(201);
  await expect(buildHttpApi({ composition: {} as ServerComposition, host: '0.0.0.0', auth: 'loopback-operator' })).rejects.toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'config.server.host',
  });
});

test('/metrics: runs and items by state, dispatch latency, attempt outcomes and HTTP requests, for a token holder', { timeout: 60_000 }, async () => {
  const { base, api } = await serve();
  const { runId } = (await (await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml('metrics') })).json()) as {
    runId: string;
  };
  await waitForState(api, runId, ['succeeded', 'failed']);
  expect((await fetch(`${base}/metrics`)).status).toBe(401);
  const scrape = await api('/metrics');
  expect(scrape.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await scrape.text();
  expect(text).toContain('cairn_runs{state="succeeded"} 1');
  expect(text).toContain('cairn_items{state="succeeded"} 2');
  expect(text).toMatch(/cairn_dispatch_latency_seconds_count\{executor="local"\} 2/);
  expect(text).toMatch(/cairn_attempts_ended_total\{executor="local",outcome="succeeded"\} 2/);
  expect(text).toMatch(/cairn_http_request_duration_seconds_count\{route="\/v1\/runs",method="POST",status="201"\} 1/);
  expect(text).toMatch(/cairn_queue_depth 0/);
});
