// Runs from templates started other than by the API's template route, against a real server
// (SQLite, local seams, HTTP on loopback): Standard Webhooks deliveries signed as the spec signs
// them (node:crypto here, the spec's published vector checked too), a schedule naming a template,
// and the MCP server's template tools over a Cairn client with scoped tokens.
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '@cairn/core';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../cli/init-server.ts';
import { composeServer, type ServerComposition } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { standardWebhookKey, standardWebhookProblem, standardWebhookSignature } from './standard-webhook-signature.ts';

/** A secret as a Standard Webhooks sender shows it: whsec_ and the base64 of random bytes. */
const webhookKey = randomBytes(32);
const webhookSecret = `whsec_${webhookKey.toString('base64')}`;

let composition: ServerComposition;
let close: () => Promise<void>;
let base: string;

const template = `version: 1
name: "alert {{ alert.id }}: {{ alert.title }}"
labels:
  severity: "{{ alert.severity }}"
items:
  - id: triage
    runtime: { kind: command, argv: [/bin/echo, "{{ alert.title }}", "{{ alert.details }}"] }
`;

beforeAll(async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-template-sources-'));
  chmodSync(directory, 0o711);
  writeFileSync(join(directory, 'triage.yaml'), template);
  const init = await initServer(directory);
  writeFileSync(
    init.configFile,
    stringifyYaml({
      ...(parseYaml(readFileSync(init.configFile, 'utf8')) as object),
      templates: {
        triage: {
          spec: './triage.yaml',
          description: 'Triage an alert',
          parameters: { 'alert.id': {}, 'alert.title': {}, 'alert.severity': { default: 'unknown' }, 'alert.details': { default: '' } },
        },
      },
      triggers: {
        webhooks: {
          alerts: {
            secret: 'ALERTS_WEBHOOK_SECRET',
            template: 'triage',
            parameters: { 'alert.id': '/data/id', 'alert.title': '/data/title', 'alert.severity': '/data/labels/severity', 'alert.details': '/data' },
          },
        },
      },
    }),
  );
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  composition = await composeServer(loaded);
  await composition.service.setSecret('ALERTS_WEBHOOK_SECRET', webhookSecret, { kind: 'user', id: 'operator', via: 'cli' });
  const app = await buildHttpApi({ composition, host: '127.0.0.1' });
  composition.start();
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  close = async () => {
    await app.close();
    await composition.close();
    removeWithMounts(directory);
  };
});

afterAll(async () => {
  await close?.();
});

/** A delivery signed as the spec signs it: base64 HMAC-SHA256 of "id.timestamp.body" with the decoded secret. */
function signed(payload: unknown, options: { id?: string; timestamp?: number; key?: Buffer; extraSignatures?: string[] } = {}) {
  const body = JSON.stringify(payload);
  const id = options.id ?? `msg_${randomBytes(12).toString('hex')}`;
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1_000));
  const signature = `v1,${createHmac('sha256', options.key ?? webhookKey)
    .update(`${id}.${timestamp}.${body}`)
    .digest('base64')}`;
  return {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': [...(options.extraSignatures ?? []), signature].join(' '),
    },
  };
}

const alert = (data: Record<string, unknown> = {}) => ({
  type: 'alert.fired',
  timestamp: '2026-11-27T08:00:00Z',
  data: { id: 'A-17', title: 'Disk full on db-2', labels: { severity: 'critical' }, ...data },
});
const deliver = (request: RequestInit, name = 'alerts') => fetch(`${base}/v1/triggers/webhooks/${name}`, request);
const submitted = async () => (await entries('run.submitted')).length;

async function entries(action: string): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  for await (const entry of composition.service.auditEntries()) if (entry.action === action) found.push(entry);
  return found;
}

async function lastDenial(): Promise<AuditEntry> {
  return (await entries('access.denied')).at(-1)!;
}

test("the Standard Webhooks specification's published example verifies; a changed byte, id or stale time does not", () => {
  const key = standardWebhookKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')!;
  const body = Buffer.from('{"test": 2432232314}');
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const at = 1614265330_000;
  expect(standardWebhookSignature(key, id, '1614265330', body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  const headers = { id, timestamp: '1614265330', signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' };
  expect(standardWebhookProblem(key, headers, body, 300, at)).toBeUndefined();
  // The prefix is optional, as in the spec's libraries.
  expect(standardWebhookProblem(standardWebhookKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')!, headers, body, 300, at)).toBeUndefined();
  // Among others (a sender rotating its secret), and beside an asymmetric one this server does not check.
  expect(standardWebhookProblem(key, { ...headers, signature: `v1a,abc v1,${'A'.repeat(43)}= ${headers.signature}` }, body, 300, at)).toBeUndefined();
  expect(standardWebhookProblem(key, headers, Buffer.from('{"test": 2432232315}'), 300, at)).toContain('no v1 signature of');
  expect(standardWebhookProblem(key, { ...headers, id: 'msg_other' }, body, 300, at)).toContain('no v1 signature of');
  expect(standardWebhookProblem(key, headers, body, 300, at + 301_000)).toContain('301 s old');
  expect(standardWebhookProblem(key, headers, body, 300, at - 301_000)).toContain('301 s ahead');
  expect(standardWebhookProblem(key, { ...headers, signature: 'v1,not-base64' }, body, 300, at)).toContain('no v1 signature (v1,');
  expect(standardWebhookKey('whsec_')).toBeUndefined();
  expect(standardWebhookKey('whsec_not base64!')).toBeUndefined();
});

test('a delivery signed with the webhook secret starts the template run, its parameters from the payload; its replay runs nothing', async () => {
  const before = await submitted();
  const delivery = signed(alert({ details: { disk: '/var', used: 0.99 } }));
  const response = await deliver(delivery);
  expect(response.status).toBe(201);
  const answer = (await response.json()) as { runId: string };
  expect(answer).toMatchObject({ duplicate: false, template: 'triage', created: true });
  const spec = await composition.service.spec(answer.runId);
  expect(spec?.name).toBe('alert A-17: Disk full on db-2');
  expect(spec?.labels).toEqual({ severity: 'critical' });
  // A value that is not a string is taken as its JSON text.
  expect(spec?.items[0]?.runtime).toMatchObject({
    argv: [
      '/bin/echo',
      'Disk full on db-2',
      JSON.stringify({ id: 'A-17', title: 'Disk full on db-2', labels: { severity: 'critical' }, details: { disk: '/var', used: 0.99 } }),
    ],
  });
  expect((await entries('run.submitted')).at(-1)).toMatchObject({ runId: answer.runId, actor: { kind: 'system', id: 'webhook:alerts', via: 'http' } });

  // The sender's retry (or a captured copy) of the same webhook-id runs nothing.
  const replay = await deliver(delivery);
  expect([replay.status, await replay.json()]).toEqual([200, { duplicate: true }]);
  // Nor does the same id re-signed with a fresh timestamp: the id is what is claimed.
  const resigned = await deliver(signed(alert({ title: 'Another title' }), { id: delivery.headers['webhook-id'] }));
  expect([resigned.status, await resigned.json()]).toEqual([200, { duplicate: true }]);
  expect(await submitted()).toBe(before + 1);

  // A parameter with a default may be missing from the payload.
  const defaulted = await deliver(signed({ data: { id: 'A-18', title: 'Latency' } }));
  expect(defaulted.status).toBe(201);
  expect((await composition.service.spec(((await defaulted.json()) as { runId: string }).runId))?.labels).toEqual({ severity: 'unknown' });
});

test('unsigned, wrongly signed, stale and tampered deliveries are refused with their reason and audited; nothing runs', async () => {
  const before = await submitted();
  const refusal = async (request: RequestInit) => {
    const response = await deliver(request);
    return { status: response.status, ...((await response.json()) as { code: string; message: string; path: string }) };
  };
  const good = signed(alert());
  const { 'webhook-signature': _signature, ...unsignedHeaders } = good.headers;
  expect(await refusal({ ...good, headers: unsignedHeaders })).toMatchObject({
    status: 401,
    code: 'CAIRN_UNAUTHENTICATED',
    message: 'Refused: the delivery has no webhook-signature header.',
  });
  expect(await lastDenial()).toMatchObject({
    actor: { kind: 'system', id: 'unverified-webhook-delivery' },
    entity: { kind: 'server', id: 'triggers/webhooks' },
    data: expect.objectContaining({ action: 'triggers.webhook', reason: 'webhook alerts: the delivery has no webhook-signature header' }),
  });
  expect(await refusal(signed(alert(), { key: randomBytes(32) }))).toMatchObject({
    status: 401,
    path: 'webhook-signature',
    message: expect.stringContaining('no v1 signature of "id.timestamp.body" with the webhook secret'),
  });
  const stale = await refusal(signed(alert(), { timestamp: Math.floor(Date.now() / 1_000) - 600 }));
  expect(stale).toMatchObject({
    status: 401,
    path: 'webhook-timestamp',
    message: expect.stringMatching(/webhook-timestamp is 60\d s old, beyond the tolerance of 300 s/),
  });
  expect(await lastDenial()).toMatchObject({ data: expect.objectContaining({ reason: expect.stringContaining('beyond the tolerance') }) });
  expect(await refusal(signed(alert(), { timestamp: Math.floor(Date.now() / 1_000) + 600 }))).toMatchObject({
    status: 401,
    message: expect.stringContaining('ahead of this server'),
  });
  // Signed, then changed: the signature is of the bytes sent.
  expect(await refusal({ ...good, body: good.body.replace('db-2', 'db-3') })).toMatchObject({ status: 401, path: 'webhook-signature' });
  // The refused delivery's id was not claimed: the genuine one still runs (below, counted).
  expect((await deliver(good)).status).toBe(201);
  expect(await submitted()).toBe(before + 1);
});

test('a signed payload missing a required parameter, or breaking the spec, is refused naming it and audited; nothing runs', async () => {
  const before = await submitted();
  const missing = await deliver(signed({ data: { id: 'A-19' } }));
  expect(missing.status).toBe(400);
  expect(await missing.json()).toMatchObject({
    code: 'CAIRN_PAYLOAD_INVALID',
    message: 'The delivery to webhook alerts has nothing at "/data/title", where the template triage takes its parameter alert.title (it has no default).',
    path: 'body.data.title',
  });
  expect(await lastDenial()).toMatchObject({
    actor: { kind: 'system', id: 'webhook:alerts' },
    entity: { kind: 'server', id: 'triggers/webhooks/alerts' },
    data: expect.objectContaining({ reason: expect.stringContaining('parameter alert.title') }),
  });
  // A label value cannot hold a line break: refused at its JSON path, naming the parameter.
  const broken = await deliver(signed(alert({ labels: { severity: 'two\nlines' } })));
  expect(broken.status).toBe(400);
  expect(await broken.json()).toMatchObject({
    code: 'CAIRN_RUN_SPEC_INVALID',
    path: '$.labels.severity',
    issues: [expect.objectContaining({ message: expect.stringContaining('(template triage, parameter alert.severity)') })],
  });
  expect(await lastDenial()).toMatchObject({ data: expect.objectContaining({ reason: expect.stringContaining('parameter alert.severity') }) });
  const notJson = { ...signed(alert()), body: 'not json' };
  const resignedNotJson = signed(alert());
  const id = resignedNotJson.headers['webhook-id'];
  const timestamp = resignedNotJson.headers['webhook-timestamp'];
  notJson.headers = { ...resignedNotJson.headers, 'webhook-signature': standardWebhookSignature(webhookKey, id, timestamp, Buffer.from('not json')) };
  const refusedNotJson = await deliver(notJson);
  expect([refusedNotJson.status, ((await refusedNotJson.json()) as { message: string }).message]).toEqual([
    400,
    'The delivery to webhook alerts is not JSON; its parameters are read from a JSON payload.',
  ]);
  const unknown = await deliver(signed(alert()), 'deploys');
  expect([unknown.status, ((await unknown.json()) as { code: string }).code]).toEqual([404, 'CAIRN_NOT_FOUND']);
  expect(await submitted()).toBe(before);
});
