// Webhooks end to end: a real server (SQLite, local seams, HTTP on loopback) sends the engine's
// events to real node:http receivers; signatures are checked with node:crypto directly.
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CairnEvent } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { buildHttpApi } from '../../http/http-server.ts';
import { runningServers } from '../../http/running-server.test-support.ts';
import { verifyWebhook } from './verify-webhook.ts';

const serve = runningServers();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const spec = (name: string) => `version: 1\nname: ${name}\nitems:\n  - { id: only, runtime: { kind: command, argv: [/bin/true] } }\n`;

interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A webhook receiver on loopback: records every request and answers what `answer` says, when it
 * says it (nothing, for `undefined`).
 */
async function receiver(
  answer: (request: Received, received: readonly Received[]) => number | undefined | Promise<number> = () => 204,
  port = 0,
): Promise<{ url: string; port: number; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = { path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      void Promise.resolve(answer(entry, received)).then((status) => {
        if (status === undefined) return;
        response.statusCode = status;
        response.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  cleanups.push(close);
  return { url: `http://127.0.0.1:${bound}`, port: bound, received, close };
}

/**
 * `cairn init` + `cairn serve` over `directory` (kept across restarts), with a fast retry schedule
 * and endpoint check; `beforeDispatch` sees the composition before the webhook dispatcher starts.
 */
async function serveDirectory(
  directory: string,
  retrySchedule: readonly number[],
  operatorToken: string,
  beforeDispatch?: (composition: ServerComposition) => void,
  endpointCheckMs = 50,
) {
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  const composition = await composeServer(loaded, { webhooks: { retrySchedule, timeoutMs: 5_000, endpointCheckMs } });
  const app = await buildHttpApi({ composition, host: '127.0.0.1' });
  composition.engine.start();
  beforeDispatch?.(composition);
  composition.webhookDispatcher.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    await composition.close();
  };
  cleanups.push(close);
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${operatorToken}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  return { api, composition, close };
}

async function freshDirectory(): Promise<{ directory: string; operatorToken: string }> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-webhooks-'));
  chmodSync(directory, 0o711);
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const { operatorToken } = await initServer(directory);
  return { directory, operatorToken };
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

type Api = (path: string, init?: RequestInit) => Promise<Response>;

async function submitAndFinish(api: Api, composition: ServerComposition, name: string): Promise<string> {
  const submitted = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: spec(name) });
  expect(submitted.status).toBe(201);
  const { runId } = (await submitted.json()) as { runId: string };
  const run = await composition.engine.waitForRun(runId);
  expect(run.state).toBe('succeeded');
  return runId;
}

/** Every event the engine has told about (what a subscriber of everything receives). */
async function engineEvents(composition: ServerComposition): Promise<CairnEvent[]> {
  const events: CairnEvent[] = [];
  for await (const event of composition.engine.events({ follow: false })) events.push(event);
  return events;
}

async function addWebhook(api: Api, body: Record<string, unknown>): Promise<{ webhookId: string; secret: string }> {
  const response = await api('/v1/webhooks', { method: 'POST', body: JSON.stringify(body) });
  expect(response.status).toBe(201);
  return (await response.json()) as { webhookId: string; secret: string };
}

test(
  'an endpoint added through the API wakes an idle dispatcher at once: a run right after it is delivered without waiting for the endpoint check',
  { timeout: 60_000 },
  async () => {
    const { directory, operatorToken } = await freshDirectory();
    // A check far longer than the test: only the wake can start the deliveries in time.
    const { api, composition } = await serveDirectory(directory, [0, 50, 50], operatorToken, undefined, 600_000);
    // The follower has looked, found no endpoint, and waits.
    await submitAndFinish(api, composition, 'before');
    const hook = await receiver();
    await addWebhook(api, { url: `${hook.url}/cairn` });
    const runId = await submitAndFinish(api, composition, 'after');
    const expected = (await engineEvents(composition)).filter((event) => event.runId === runId);
    await until('the run after the endpoint delivered', () => hook.received.length >= expected.length, 20_000);
    expect(hook.received.map((request) => (JSON.parse(request.body) as { data: CairnEvent }).data.runId)).toEqual(expected.map(() => runId));
  },
);

test(
  'each event arrives signed per Standard Webhooks: an independent HMAC-SHA256 matches, verifyWebhook accepts it and refuses it altered',
  { timeout: 60_000 },
  async () => {
    const { directory, operatorToken } = await freshDirectory();
    const { api, composition } = await serveDirectory(directory, [0, 50, 50], operatorToken);
    const hook = await receiver();
    const { webhookId, secret } = await addWebhook(api, { url: `${hook.url}/cairn`, description: 'all events' });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64').length).toBeGreaterThanOrEqual(24);

    const runId = await submitAndFinish(api, composition, 'signed');
    const expected = (await engineEvents(composition)).filter((event) => event.runId === runId);
    expect(expected.map((event) => event.type)).toEqual(expect.arrayContaining(['run.state', 'item.state', 'attempt.state']));
    await until('every event delivered', () => hook.received.length >= expected.length);

    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const now = Math.floor(Date.now() / 1000);
    for (const request of hook.received) {
      const id = String(request.headers['webhook-id']);
      const timestamp = String(request.headers['webhook-timestamp']);
      expect(request.path).toBe('/cairn');
      expect(request.headers['content-type']).toBe('application/json');
      expect(Math.abs(Number(timestamp) - now)).toBeLessThan(120);
      expect(request.headers['webhook-signature']).toBe(`v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${request.body}`).digest('base64')}`);
      expect(verifyWebhook({ secret, headers: request.headers, body: request.body }).id).toBe(id);
      // Altered body, another secret, an old timestamp: each refused.
      for (const altered of [
        { secret, headers: request.headers, body: request.body.replace('"type"', '"typ\u0065 "') },
        { secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}`, headers: request.headers, body: request.body },
        { secret, headers: request.headers, body: request.body, now: (Number(timestamp) + 301) * 1000 },
      ]) {
        let error: unknown;
        try {
          verifyWebhook(altered);
        } catch (caught) {
          error = caught;
        }
        expect(isCairnError(error, 'CAIRN_SIGNATURE_INVALID')).toBe(true);
      }
    }
    const payloads = hook.received.map((request) => JSON.parse(request.body) as { type: string; timestamp: string; data: CairnEvent });
    expect(payloads.map((payload) => payload.data).sort((a, b) => a.id - b.id)).toEqual(expected);
    for (const payload of payloads) expect(payload).toEqual({ type: payload.data.type, timestamp: payload.data.time, data: payload.data });
    expect(new Set(hook.received.map((request) => request.headers['webhook-id'])).size).toBe(expected.length);

    const deliveries = (await (await api(`/v1/webhooks/${webhookId}/deliveries`)).json()) as {
      deliveryId: string;
      eventId: number;
      status: string;
      attempts: number;
      lastStatusCode: number;
    }[];
    expect(deliveries.map((delivery) => [delivery.eventId, delivery.status, delivery.attempts, delivery.lastStatusCode])).toEqual(
      expected.map((event) => [event.id, 'succeeded', 1, 204]),
    );
    expect(deliveries.map((delivery) => delivery.deliveryId).sort()).toEqual(hook.received.map((request) => String(request.headers['webhook-id'])).sort());
  },
);

test(
  'retries: 500 twice then 200 delivers on the 3rd attempt; event and run filters hold; always 500 fails after the schedule; 410 disables the endpoint (audited)',
  { timeout: 60_000 },
  async () => {
    const { directory, operatorToken } = await freshDirectory();
    const { api, composition } = await serveDirectory(directory, [0, 40, 40], operatorToken);
    const hook = await receiver((request, received) => {
      if (request.path === '/gone') return 410;
      if (request.path === '/broken') return 500;
      const before = received.filter((other) => other.path === request.path && other.headers['webhook-id'] === request.headers['webhook-id']).length;
      return before <= 2 ? 500 : 200;
    });
    const flaky = await addWebhook(api, { url: `${hook.url}/flaky`, events: ['run.state'] });
    const otherRun = await addWebhook(api, { url: `${hook.url}/other-run`, runId: 'some-other-run' });
    const broken = await addWebhook(api, { url: `${hook.url}/broken`, events: ['run.state'] });
    const gone = await addWebhook(api, { url: `${hook.url}/gone`, events: ['run.state'] });

    const runId = await submitAndFinish(api, composition, 'retried');
    const runStates = (await engineEvents(composition)).filter((event) => event.runId === runId && event.type === 'run.state');
    expect(runStates.map((event) => event.type === 'run.state' && event.state)).toEqual(['queued', 'running', 'succeeded']);
    type Delivery = {
      deliveryId: string;
      eventId: number;
      eventType: string;
      status: string;
      attempts: number;
      lastStatusCode: number | null;
      lastError: string | null;
      nextAttemptAt: string | null;
    };
    const deliveriesOf = async (webhookId: string) => (await (await api(`/v1/webhooks/${webhookId}/deliveries`)).json()) as Delivery[];

    const flakyDone = await until('the flaky endpoint got every run.state event', async () => {
      const deliveries = await deliveriesOf(flaky.webhookId);
      return deliveries.length === runStates.length && deliveries.every((delivery) => delivery.status === 'succeeded') ? deliveries : undefined;
    });
    expect(flakyDone.map((delivery) => [delivery.eventId, delivery.eventType, delivery.attempts, delivery.lastStatusCode, delivery.nextAttemptAt])).toEqual(
      runStates.map((event) => [event.id, 'run.state', 3, 200, null]),
    );
    for (const delivery of flakyDone) {
      const attempts = hook.received.filter((request) => request.path === '/flaky' && request.headers['webhook-id'] === delivery.deliveryId);
      expect(attempts).toHaveLength(3);
      expect(new Set(attempts.map((request) => request.body)).size).toBe(1);
    }
    // Only run.state reached it, and nothing of this run reached the endpoint of another run, whose
    // deliveries were decided in the same transactions as the flaky endpoint's.
    expect(
      hook.received.filter((request) => request.path === '/flaky').every((request) => (JSON.parse(request.body) as { type: string }).type === 'run.state'),
    ).toBe(true);
    expect(await deliveriesOf(otherRun.webhookId)).toEqual([]);

    const brokenDone = await until('the broken endpoint ran out of attempts', async () => {
      const deliveries = await deliveriesOf(broken.webhookId);
      return deliveries.length === runStates.length && deliveries.every((delivery) => delivery.status === 'failed') ? deliveries : undefined;
    });
    expect(brokenDone.map((delivery) => [delivery.attempts, delivery.lastStatusCode, delivery.lastError, delivery.nextAttemptAt])).toEqual(
      runStates.map(() => [3, 500, 'the endpoint answered 500', null]),
    );

    const disabled = await until('the gone endpoint disabled', async () => {
      const endpoint = (await (await api(`/v1/webhooks/${gone.webhookId}`)).json()) as { disabledAt: string | null; disabledReason: string | null };
      return endpoint.disabledAt === null ? undefined : endpoint;
    });
    expect(disabled.disabledReason).toBe('the endpoint answered 410 Gone');
    expect(
      [...composition.engine.audit.entries()]
        .filter((entry) => entry.action === 'webhook.disabled')
        .map((entry) => [entry.entity.id, entry.actor.id, entry.data['reason']]),
    ).toEqual([[gone.webhookId, 'webhooks', 'the endpoint answered 410 Gone']]);
    const goneDeliveries = await deliveriesOf(gone.webhookId);
    expect(goneDeliveries.every((delivery) => delivery.status === 'failed')).toBe(true);
    // A 410 is never retried, and what was still pending then failed unsent: only the deliveries
    // already in flight at the first 410 were sent (one, or more when they were enqueued together),
    // each once, and the endpoint was disabled (and audited, above) once.
    const goneRequests = hook.received.filter((request) => request.path === '/gone');
    expect(goneRequests.length).toBeGreaterThanOrEqual(1);
    expect(new Set(goneRequests.map((request) => request.headers['webhook-id'])).size).toBe(goneRequests.length);
    expect(goneDeliveries.map((delivery) => delivery.deliveryId)).toEqual(expect.arrayContaining(goneRequests.map((request) => request.headers['webhook-id'])));
    expect(goneDeliveries.every((delivery) => delivery.attempts <= 1)).toBe(true);
    // Each record says what happened to it: a delivery sent says what it was answered (even when
    // the disable came first), and only one never sent says "not sent".
    const sent = new Set(goneRequests.map((request) => String(request.headers['webhook-id'])));
    await until('every delivery sent to the gone endpoint recorded with its answer', async () => {
      const records = await deliveriesOf(gone.webhookId);
      return records.every((delivery) => (sent.has(delivery.deliveryId) ? delivery.attempts === 1 : delivery.attempts === 0)) || undefined;
    });
    for (const delivery of await deliveriesOf(gone.webhookId)) {
      if (sent.has(delivery.deliveryId)) expect([delivery.lastStatusCode, delivery.lastError]).toEqual([410, 'the endpoint answered 410 Gone']);
      else expect([delivery.lastStatusCode, delivery.lastError]).toEqual([null, 'not sent: the endpoint was disabled (the endpoint answered 410 Gone)']);
    }
  },
);

test(
  'restart: deliveries pending while the receiver is down, and events made while no dispatcher ran, all arrive after a restart; duplicates only with the same webhook-id',
  { timeout: 90_000 },
  async () => {
    const { directory, operatorToken } = await freshDirectory();
    // A port that nothing answers on until the receiver starts there.
    const probe = await receiver();
    await probe.close();
    const retrying = [0, ...Array.from({ length: 500 }, () => 100)];

    const first = await serveDirectory(directory, retrying, operatorToken);
    const { webhookId } = await addWebhook(first.api, { url: `http://127.0.0.1:${probe.port}/down` });
    const firstRun = await submitAndFinish(first.api, first.composition, 'before');
    const firstEvents = (await engineEvents(first.composition)).filter((event) => event.runId === firstRun);
    type Delivery = { deliveryId: string; eventId: number; status: string; attempts: number; lastError: string | null };
    const pending = await until('every delivery tried and pending', async () => {
      const deliveries = (await (await first.api(`/v1/webhooks/${webhookId}/deliveries`)).json()) as Delivery[];
      return deliveries.length === firstEvents.length && deliveries.every((delivery) => delivery.status === 'pending' && delivery.attempts >= 1)
        ? deliveries
        : undefined;
    });
    expect(pending[0]!.lastError).toMatch(/ECONNREFUSED/);
    await first.close();

    // The engine runs a second run before any dispatcher is back: its events are read from the cursor.
    const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
    const between = await composeServer(loaded);
    between.engine.start();
    const { runId: secondRun } = between.engine.submit(spec('while-away'), { actor: { kind: 'user', id: 'operator', via: 'cli' }, source: 'the test' });
    expect((await between.engine.waitForRun(secondRun)).state).toBe('succeeded');
    await between.close();

    const hook = await receiver(() => 200, probe.port);
    const second = await serveDirectory(directory, retrying, operatorToken);
    const expected = (await engineEvents(second.composition)).filter((event) => event.runId === firstRun || event.runId === secondRun);
    await until('every event of both runs delivered', async () => {
      const ids = new Set(hook.received.map((request) => (JSON.parse(request.body) as { data: CairnEvent }).data.id));
      return expected.every((event) => ids.has(event.id));
    });
    const received = hook.received.map((request) => ({
      id: String(request.headers['webhook-id']),
      event: (JSON.parse(request.body) as { data: CairnEvent }).data,
    }));
    expect([...new Set(received.map((entry) => entry.event.id))].sort((a, b) => a - b)).toEqual(expected.map((event) => event.id));
    // One webhook-id per event, kept across the restart: the ids server 1 had recorded.
    const idOfEvent = new Map<number, string>();
    for (const entry of received) {
      expect(idOfEvent.get(entry.event.id) ?? entry.id).toBe(entry.id);
      idOfEvent.set(entry.event.id, entry.id);
    }
    expect(new Set(idOfEvent.values()).size).toBe(expected.length);
    for (const delivery of pending) expect(idOfEvent.get(delivery.eventId)).toBe(delivery.deliveryId);
  },
);

test(
  'with no endpoint the event stream is not read; one made later gets every event after it was made; with the last one removed the stream ends',
  { timeout: 60_000 },
  async () => {
    const { directory, operatorToken } = await freshDirectory();
    // What the dispatcher reads of the engine's stream: every event it is handed, and whether a stream is open.
    const read: CairnEvent[] = [];
    let open = 0;
    const { api, composition } = await serveDirectory(directory, [0, 50], operatorToken, ({ service }) => {
      const events = service.events.bind(service);
      service.events = async function* (options) {
        open++;
        try {
          for await (const event of events(options)) yield (read.push(event), event);
        } finally {
          open--;
        }
      };
    });
    const before = await submitAndFinish(api, composition, 'nobody-listens');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([read.length, open]).toEqual([0, 0]);

    const hook = await receiver();
    const { webhookId } = await addWebhook(api, { url: `${hook.url}/late` });
    const after = await submitAndFinish(api, composition, 'somebody-listens');
    const expected = (await engineEvents(composition)).filter((event) => event.runId === after);
    await until('every event of the later run delivered', () => hook.received.length >= expected.length);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const delivered = hook.received.map((request) => (JSON.parse(request.body) as { data: CairnEvent }).data);
    expect(delivered.sort((a, b) => a.id - b.id)).toEqual(expected);
    // The stream was read from where the endpoint began, not from the first run's events.
    expect(read.some((event) => event.runId === before)).toBe(false);
    expect(open).toBe(1);

    expect((await api(`/v1/webhooks/${webhookId}`, { method: 'DELETE' })).status).toBe(204);
    await until('the stream closed', () => open === 0);
    const seen = read.length;
    await submitAndFinish(api, composition, 'nobody-listens-again');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([read.length, open]).toEqual([seen, 0]);
  },
);

test(
  'a delivery in flight when the server stops is not counted, and is sent again after the restart with the same webhook-id',
  { timeout: 60_000 },
  async () => {
    const { directory, operatorToken } = await freshDirectory();
    const hanging = await receiver(() => undefined);
    const first = await serveDirectory(directory, [0, 50], operatorToken);
    const { webhookId } = await addWebhook(first.api, { url: `${hanging.url}/slow`, events: ['run.state'] });
    await submitAndFinish(first.api, first.composition, 'in-flight');
    await until('the first delivery in flight', () => hanging.received.length >= 1);
    const inFlight = String(hanging.received[0]!.headers['webhook-id']);
    const before = (await (await first.api(`/v1/webhooks/${webhookId}/deliveries`)).json()) as { deliveryId: string; status: string; attempts: number }[];
    expect(before.find((delivery) => delivery.deliveryId === inFlight)).toMatchObject({ status: 'pending', attempts: 0 });
    await first.close();
    await hanging.close();

    const hook = await receiver(() => 200, hanging.port);
    const second = await serveDirectory(directory, [0, 50], operatorToken);
    await until('the interrupted delivery sent again', () => hook.received.some((request) => request.headers['webhook-id'] === inFlight));
    const after = await until('every delivery succeeded', async () => {
      const deliveries = (await (await second.api(`/v1/webhooks/${webhookId}/deliveries`)).json()) as {
        deliveryId: string;
        status: string;
        attempts: number;
      }[];
      return deliveries.every((delivery) => delivery.status === 'succeeded') ? deliveries : undefined;
    });
    expect(after.map((delivery) => delivery.deliveryId)).toEqual(before.map((delivery) => delivery.deliveryId));
    expect(after.find((delivery) => delivery.deliveryId === inFlight)!.attempts).toBe(1);
  },
);

test('a delivery answered while the server stops is recorded, and not sent again after the restart', { timeout: 60_000 }, async () => {
  const { directory, operatorToken } = await freshDirectory();
  // The first request is answered only once the stop has begun; the rest at once.
  let answerFirst: (status: number) => void = () => undefined;
  const held = new Promise<number>((resolve) => (answerFirst = resolve));
  const hook = await receiver((_request, received) => (received.length === 1 ? held : 204));
  const first = await serveDirectory(directory, [0, 50], operatorToken);
  const { webhookId } = await addWebhook(first.api, { url: `${hook.url}/hook`, events: ['run.state'] });
  await submitAndFinish(first.api, first.composition, 'answered-late');
  await until('the first delivery in flight', () => hook.received.length >= 1);
  const answeredLate = String(hook.received[0]!.headers['webhook-id']);
  // Within the stop's grace (2 s): the answer is recorded before the dispatcher stops.
  const stopping = first.composition.webhookDispatcher.stop();
  setTimeout(() => answerFirst(204), 200);
  await stopping;
  const recorded = (await (await first.api(`/v1/webhooks/${webhookId}/deliveries`)).json()) as { deliveryId: string; status: string; attempts: number }[];
  expect(recorded.find((delivery) => delivery.deliveryId === answeredLate)).toMatchObject({ status: 'succeeded', attempts: 1 });
  await first.close();

  // The next start sends what is pending (a later run's events), not the delivery answered late.
  const second = await serveDirectory(directory, [0, 50], operatorToken);
  await submitAndFinish(second.api, second.composition, 'after-restart');
  await until('every delivery succeeded', async () =>
    ((await (await second.api(`/v1/webhooks/${webhookId}/deliveries`)).json()) as { status: string }[]).every((delivery) => delivery.status === 'succeeded'),
  );
  expect(hook.received.filter((request) => request.headers['webhook-id'] === answeredLate)).toHaveLength(1);
  expect(new Set(hook.received.map((request) => request.headers['webhook-id'])).size).toBe(hook.received.length);
});

test(
  'admin only; a bad url is a 400 naming body.url; the secret is shown once and never listed, audited, or stored in clear',
  { timeout: 60_000 },
  async () => {
    const { api, composition, base, directory, operatorToken } = await serve();
    // The actor a token acts as: `token:<id>`, the id being the token's second part.
    const operator = `token:${operatorToken.split('_')[1]}`;
    const reader = (await composition.tokens.create('reader', ['runs:read', 'runs:submit'])).token;
    const asReader = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' } });
    expect((await asReader('/v1/webhooks')).status).toBe(403);
    const refused = await asReader('/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: 'https://example.com/hook' }) });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('CAIRN_FORBIDDEN');

    for (const url of ['not a url', 'ftp://example.com/hook', '/relative/hook', 'https://user:password@example.com/hook']) {
      const response = await api('/v1/webhooks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url }) });
      expect(response.status).toBe(400);
      const error = (await response.json()) as { code: string; path: string; message: string };
      expect(error).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'body.url' });
      expect(error.message).toMatch(/^The request is not valid: body\.url must/);
    }
    const badEvent = await api('/v1/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://example.com/hook', events: ['run.exploded'] }),
    });
    expect(badEvent.status).toBe(400);
    expect(((await badEvent.json()) as { path: string }).path).toBe('body.events.0');
    expect((await (await api('/v1/webhooks')).json()) as unknown[]).toEqual([]);

    const created = await api('/v1/webhooks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://example.com/hooks/cairn/capability-path', events: ['run.state'] }),
    });
    const { webhookId, secret } = (await created.json()) as { webhookId: string; secret: string };
    const base64 = secret.slice('whsec_'.length);
    const listed = await (await api('/v1/webhooks')).text();
    const one = await (await api(`/v1/webhooks/${webhookId}`)).text();
    expect(JSON.parse(listed)).toEqual([
      expect.objectContaining({ webhookId, url: 'https://example.com/hooks/cairn/capability-path', events: ['run.state'], createdBy: operator }),
    ]);
    for (const text of [listed, one]) {
      expect(text).not.toContain(base64);
      expect(text).not.toContain('secret');
    }
    expect(readFileSync(join(directory, 'cairn-data', 'webhooks.db')).includes(base64)).toBe(false);
    expect((await api(`/v1/webhooks/${webhookId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/v1/webhooks/${webhookId}`)).status).toBe(404);
    expect((await api(`/v1/webhooks/${webhookId}/deliveries`)).status).toBe(404);

    const entries = [...composition.engine.audit.entries(0)];
    const audited = entries.filter((entry) => entry.entity.kind === 'webhook');
    expect(audited.map((entry) => [entry.action, entry.entity.id, entry.actor.id, entry.data['origin']])).toEqual([
      ['webhook.created', webhookId, operator, 'https://example.com'],
      ['webhook.removed', webhookId, operator, 'https://example.com'],
    ]);
    const log = JSON.stringify(entries);
    expect(log).not.toContain(base64);
    expect(log).not.toContain('capability-path');
  },
);
