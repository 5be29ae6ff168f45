// Two replicas of a server on one PostgreSQL database (each its own data directory, the keys copied
// as an operator distributes them), configured with the Standard Webhooks trigger of
// docs/guides/templates-from-webhooks-schedules-and-mcp.md: either replica handles a delivery, the
// one that does not run the engine too (it opens the trigger's secret from the database with the
// deployment's cipher); a delivery handled at the leading replica, retried by its sender to the next
// leader after a failover, is a duplicate there (its id is claimed in the shared table, not in a
// `triggers.db` of each replica's own): one run, and a refused delivery is audited once. (Two stores
// claiming one id at once: seen-deliveries.test.ts.)
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '@cairn/core';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { buildHttpApi } from '../../http/http-server.ts';

const webhookKey = randomBytes(32);
const page = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', '..', 'docs', 'guides', 'templates-from-webhooks-schedules-and-mcp.md'), 'utf8');
/** The block of the page fenced with this title (```yaml title="..."). */
const block = (title: string) => new RegExp(`^\`\`\`\\w+ title="${title.replace(/[()]/g, '\\$&')}"\\n([\\s\\S]*?)^\`\`\``, 'm').exec(page)![1]!;

const cleanups: (() => Promise<void> | void)[] = [];
let database: TestDatabase;
let a: Replica;
let b: Replica;

interface Replica {
  readonly directory: string;
  readonly composition: ServerComposition;
  readonly base: string;
  readonly operatorToken: string;
  close(): Promise<void>;
}

/** A replica: its own folder (`cairn init`, the page's template and config sections, then the first replica's keys), the shared database, HTTP on loopback. */
async function replica(keysFrom?: string): Promise<Replica> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-trigger-replica-'));
  chmodSync(directory, 0o711);
  // An attempt still running at the end keeps its layered workspace's read-only base mounted.
  cleanups.push(() => removeWithMounts(directory));
  mkdirSync(join(directory, 'templates'));
  writeFileSync(join(directory, 'templates', 'triage.yaml'), block('templates/triage.yaml'));
  const { operatorToken, configFile } = await initServer(directory);
  writeFileSync(
    configFile,
    stringifyYaml({
      ...(parseYaml(readFileSync(configFile, 'utf8')) as object),
      ...(parseYaml(block('cairn.config.yaml (the sections added)')) as object),
      engine: { state: database.settings },
    }),
  );
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  if (keysFrom)
    for (const key of ['signing.pem', 'cipher.key']) copyFileSync(join(keysFrom, 'cairn-data', 'keys', key), join(loaded.paths.dataDirectory, 'keys', key));
  const composition = await composeServer(loaded);
  const app = await buildHttpApi({ composition, host: '127.0.0.1' });
  composition.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    await composition.close();
  };
  cleanups.push(close);
  return { directory, composition, base, operatorToken, close };
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const leads = (composition: ServerComposition) => {
  try {
    return composition.engine !== undefined;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  database = await createTestDatabase();
  cleanups.push(() => database.drop());
  a = await replica();
  await until('replica A to lead', () => leads(a.composition));
  b = await replica(a.directory);
  // Stored once, in the shared database, sealed with the cipher key both replicas have.
  await a.composition.service.setSecret('ALERTS_WEBHOOK_SECRET', `whsec_${webhookKey.toString('base64')}`, { kind: 'user', id: 'operator', via: 'cli' });
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A delivery signed as the Standard Webhooks spec signs it, with this id. */
function signed(payload: unknown, id: string): RequestInit {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor(Date.now() / 1_000));
  const signature = `v1,${createHmac('sha256', webhookKey).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
  return {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature },
  };
}

const deliver = async (at: Replica, request: RequestInit) => {
  const response = await fetch(`${at.base}/v1/triggers/webhooks/alerts`, { ...request, signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

async function entries(action: string): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  for await (const entry of b.composition.service.auditEntries()) if (entry.action === action) found.push(entry);
  return found;
}

async function runsNamed(name: string): Promise<string[]> {
  const response = await fetch(`${b.base}/v1/runs?limit=100`, { headers: { authorization: `Bearer ${b.operatorToken}` } });
  const { runs } = (await response.json()) as { runs: { runId: string; name?: string }[] };
  return runs.filter((run) => run.name === name).map((run) => run.runId);
}

test('a delivery at the replica that does not lead is handled there (its secret read from the database) and is a duplicate at the leader: one run, which runs', async () => {
  expect([leads(a.composition), leads(b.composition)]).toEqual([true, false]);
  const delivery = signed({ type: 'alert.fired', data: { id: 'A-9', title: 'Queue backed up on mq-1' } }, 'msg_at_follower');
  const handled = await deliver(b, delivery);
  expect(handled).toMatchObject({ status: 201, body: { duplicate: false, template: 'triage', created: true } });
  // The sender retries (to whichever replica its load balancer picks): a duplicate at both.
  expect(await deliver(a, delivery)).toEqual({ status: 200, body: { duplicate: true } });
  expect(await deliver(b, delivery)).toEqual({ status: 200, body: { duplicate: true } });
  const runId = handled.body.runId as string;
  expect(await runsNamed('alert A-9: Queue backed up on mq-1')).toEqual([runId]);
  expect(await a.composition.engine.waitForRun(runId)).toMatchObject({ state: 'succeeded' });
});

test("a server secret revealed at the replica that does not lead is the leader's; one not set is refused alike at both, naming it", async () => {
  const reveal = (at: Replica, name: string) =>
    at.composition.service.modelCalls.revealSecret(name).then(
      (value) => ({ value }),
      (error: unknown) => ({ code: (error as { code?: string }).code, path: (error as { path?: string }).path, message: (error as Error).message }),
    );
  const atLeader = await reveal(a, 'ALERTS_WEBHOOK_SECRET');
  expect(atLeader).toEqual({ value: `whsec_${webhookKey.toString('base64')}` });
  expect(await reveal(b, 'ALERTS_WEBHOOK_SECRET')).toEqual(atLeader);
  const refused = await reveal(a, 'NOT_SET_ANYWHERE');
  expect(refused).toEqual({
    code: 'CAIRN_SECRET_UNAVAILABLE',
    path: 'NOT_SET_ANYWHERE',
    message: 'The server secret NOT_SET_ANYWHERE is not set: set it with `cairn secret set NOT_SET_ANYWHERE`.',
  });
  expect(await reveal(b, 'NOT_SET_ANYWHERE')).toEqual(refused);
});

test('a delivery and a refused one, retried to the next leader after a failover, are duplicates there: one run, one refusal audited', async () => {
  const delivery = signed({ type: 'alert.fired', data: { id: 'A-17', title: 'Disk full on db-2', labels: { severity: 'critical' } } }, 'msg_retried');
  const refused = signed({ type: 'alert.fired', data: { id: 'A-18' } }, 'msg_refused');
  const handled = await deliver(a, delivery);
  expect(handled).toMatchObject({ status: 201, body: { duplicate: false, template: 'triage', created: true } });
  expect(await deliver(a, refused)).toMatchObject({ status: 400, body: { code: 'CAIRN_PAYLOAD_INVALID' } });
  // A stops before the sender saw its answers; B takes the lease, and the sender retries to B.
  await a.close();
  await until('replica B to lead', () => leads(b.composition));
  expect(await deliver(b, delivery)).toEqual({ status: 200, body: { duplicate: true } });
  expect(await deliver(b, refused)).toEqual({ status: 200, body: { duplicate: true } });
  expect(await runsNamed('alert A-17: Disk full on db-2')).toEqual([handled.body.runId]);
  const denials = (await entries('access.denied')).filter((entry) => entry.entity.id === 'triggers/webhooks/alerts');
  expect(denials.map((entry) => entry.data.reason)).toEqual([expect.stringContaining('has nothing at "/data/title"')]);
});
