// Two replicas on one PostgreSQL database, each with a data directory of its own (only the keys
// copied, as an operator distributes them): tokens and webhooks are the database's, so a token made
// at one replica works at the other, a revoke at one is refused at the other from the next request
// (no cache: each request reads the token's row), and a webhook made at one is listed at the other
// and delivered once — by the leading replica, then, after it stops, by the next leader from where
// the first stopped.
import { copyFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CairnEvent } from '@cairn/core';
import { afterEach, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { initServer } from '../cli/init-server.ts';
import { runCli } from '../cli/run-cli.test-support.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { composeServer } from './compose-server.ts';
import type { ServerComposition } from './server-composition.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A replica: its own folder (`cairn init`, then the first replica's keys), the shared database, HTTP on loopback. */
async function replica(database: TestDatabase, keysFrom?: string) {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-replica-'));
  chmodSync(directory, 0o711);
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const { operatorToken, configFile } = await initServer(directory);
  writeFileSync(configFile, stringifyYaml({ ...(parseYaml(readFileSync(configFile, 'utf8')) as object), engine: { state: database.settings } }));
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  if (keysFrom)
    for (const key of ['signing.pem', 'cipher.key']) copyFileSync(join(keysFrom, 'cairn-data', 'keys', key), join(loaded.paths.dataDirectory, 'keys', key));
  const composition = await composeServer(loaded, { webhooks: { retrySchedule: [0, 50, 50], timeoutMs: 5_000 } });
  const app = await buildHttpApi({ composition, host: '127.0.0.1' });
  composition.start();
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
  const api = (path: string, token: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.headers as Record<string, string> | undefined),
      },
    });
  return { directory, loaded, composition, operatorToken, api, close, base };
}

const leads = (composition: ServerComposition) => {
  try {
    return composition.engine !== undefined;
  } catch {
    return false;
  }
};

test(
  'two replicas without a shared folder: tokens made or revoked at either hold at both at once; a webhook made at one is listed at the other and each event is delivered once, across a change of leader',
  { timeout: 120_000 },
  async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const a = await replica(database);
    await until('replica A to lead', () => leads(a.composition));
    const b = await replica(database, a.directory);
    expect(leads(b.composition)).toBe(false);

    // `cairn init`'s token file moved into the database at each replica's start: A's operator token works at B.
    expect(existsSync(a.loaded.paths.tokens)).toBe(false);
    expect(existsSync(`${a.loaded.paths.tokens}.imported`)).toBe(true);
    expect((await b.api('/v1/tokens', a.operatorToken)).status).toBe(200);

    // A token made at A authenticates at B; revoked at B, it is refused at A on the very next request.
    const created = await a.api('/v1/tokens', a.operatorToken, { method: 'POST', body: JSON.stringify({ name: 'reader', scopes: ['runs:read'] }) });
    expect(created.status).toBe(201);
    const { token, record } = (await created.json()) as { token: string; record: { id: string } };
    expect((await b.api('/v1/runs', token)).status).toBe(200);
    expect((await a.api('/v1/runs', token)).status).toBe(200);
    expect((await b.api(`/v1/tokens/${record.id}`, b.operatorToken, { method: 'DELETE' })).status).toBe(200);
    expect((await a.api('/v1/runs', token)).status).toBe(401);
    expect((await b.api('/v1/runs', token)).status).toBe(401);
    const listedAtA = (await (await a.api('/v1/tokens', a.operatorToken)).json()) as { id: string; revokedAt?: string }[];
    expect(listedAtA.find((listed) => listed.id === record.id)?.revokedAt).toEqual(expect.any(String));
    // A webhook made at A is listed at B, its secret usable by B (same cipher key).
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        response.statusCode = 204;
        response.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => (receiver.closeAllConnections(), receiver.close(() => resolve()))));
    const added = await a.api('/v1/webhooks', a.operatorToken, {
      method: 'POST',
      body: JSON.stringify({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, events: ['run.state'] }),
    });
    expect(added.status).toBe(201);
    const { webhookId } = (await added.json()) as { webhookId: string };
    expect(((await (await b.api('/v1/webhooks', b.operatorToken)).json()) as { webhookId: string }[]).map((listed) => listed.webhookId)).toEqual([webhookId]);

    const runOf = async (at: typeof a, name: string) => {
      const submitted = await at.api('/v1/runs', at.operatorToken, {
        method: 'POST',
        body: JSON.stringify({ version: 1, name, items: [{ id: 'only', runtime: { kind: 'command', argv: ['/bin/true'] } }] }),
      });
      expect(submitted.status).toBe(201);
      return ((await submitted.json()) as { runId: string }).runId;
    };
    const runStates = async (composition: ServerComposition) => {
      const events: CairnEvent[] = [];
      for await (const event of composition.service.events({ follow: false })) if (event.type === 'run.state') events.push(event);
      return events;
    };
    const delivered = () => received.map((entry) => (JSON.parse(entry.body) as { data: CairnEvent }).data);
    // Submitted at B (which does not lead): A runs it and A's dispatcher delivers its run.state events.
    const first = await runOf(b, 'first');
    await until('the first run to succeed, delivered', () =>
      delivered().some((event) => event.runId === first && event.type === 'run.state' && (event as { state: string }).state === 'succeeded'),
    );
    // A stops; B takes the lease and its dispatcher continues from the cursor in the database.
    await a.close();
    await until('replica B to lead', () => leads(b.composition));
    const second = await runOf(b, 'second');
    await until('the second run to succeed, delivered', () =>
      delivered().some((event) => event.runId === second && event.type === 'run.state' && (event as { state: string }).state === 'succeeded'),
    );
    await until('the deliveries to be recorded', async () =>
      ((await (await b.api(`/v1/webhooks/${webhookId}/deliveries`, b.operatorToken)).json()) as { status: string }[]).every(
        (delivery) => delivery.status === 'succeeded',
      ),
    );
    // Every run.state event of both runs, in order, each once (one webhook-id each), none skipped.
    const expected = (await runStates(b.composition)).filter((event) => event.runId === first || event.runId === second);
    expect(expected.length).toBeGreaterThanOrEqual(4);
    expect(delivered().map((event) => event.id)).toEqual(expected.map((event) => event.id));
    expect(new Set(received.map((entry) => entry.headers['webhook-id'])).size).toBe(received.length);
    const deliveries = (await (await b.api(`/v1/webhooks/${webhookId}/deliveries`, b.operatorToken)).json()) as { eventId: number; attempts: number }[];
    expect(deliveries.map((delivery) => [delivery.eventId, delivery.attempts])).toEqual(expected.map((event) => [event.id, 1]));
  },
);

test(
  '`cairn token` on a PostgreSQL config works in the database: a token it makes authenticates at a running replica, its revoke is refused there at once',
  { timeout: 120_000 },
  async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const a = await replica(database);
    const cli = (args: readonly string[]) => runCli(['--json', ...args], { cwd: a.directory });
    const created = await cli(['token', 'create', '--name', 'from-cli', '--scope', 'runs:read']);
    expect(created.status, created.stderr).toBe(0);
    const { token, record } = JSON.parse(created.stdout) as { token: string; record: { id: string } };
    expect((await a.api('/v1/runs', token)).status).toBe(200);
    const listed = await cli(['token', 'list']);
    expect(listed.status, listed.stderr).toBe(0);
    // The operator's token of `cairn init` (imported when the replica started) and the new one.
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((entry) => entry.name)).toEqual(['operator', 'from-cli']);
    expect(listed.stdout).not.toContain(token.slice(`cairn_${record.id}_`.length));
    const revoked = await cli(['token', 'revoke', record.id]);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect((await a.api('/v1/runs', token)).status).toBe(401);
    const unknown = await cli(['token', 'revoke', '0123456789ab']);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toContain('CAIRN_NOT_FOUND');
  },
);

test(
  '`cairn dashboard` on a PostgreSQL config: its code is redeemed at another replica once, then refused at both; the session authenticates everywhere',
  { timeout: 120_000 },
  async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const a = await replica(database);
    const b = await replica(database, a.directory);
    const printed = await runCli(['--json', 'dashboard', '--server', a.base], { cwd: a.directory });
    expect(printed.status, printed.stderr).toBe(0);
    const code = /#signin=(\S+)$/.exec((JSON.parse(printed.stdout) as { url: string }).url)![1]!;
    const oracle = await database.client();
    const rows = await oracle.query<{ secret_hash: string; one_time: boolean; expires_at: string }>(
      'SELECT secret_hash, one_time, expires_at FROM cairn.server_tokens WHERE one_time',
    );
    expect(rows.rows).toHaveLength(1);
    expect(JSON.stringify(rows.rows)).not.toContain(code.slice(-43));
    const redeem = (base: string) =>
      fetch(`${base}/v1/session/redeem`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
    const answer = await redeem(b.base);
    expect(answer.status).toBe(200);
    const { token } = (await answer.json()) as { token: string };
    expect((await redeem(a.base)).status).toBe(401);
    expect((await redeem(b.base)).status).toBe(401);
    expect((await a.api('/v1/runs', token)).status).toBe(200);
    expect((await a.api('/v1/runs', code)).status).toBe(401);
  },
);
