// Runs from templates started other than by the API's template route, against a real server
// (SQLite, local seams, HTTP on loopback) configured with the template and config of
// docs/guides/templates-from-webhooks-schedules-and-mcp.md as written: Standard Webhooks deliveries
// signed as the spec signs them (node:crypto here and the page's own sender; the spec's published
// vector checked too), schedules naming a template (the page's command, through the CLI), and the
// MCP server's template tools over Cairn clients with scoped tokens.
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCairnClient } from '@cairn/client';
import type { AuditEntry } from '@cairn/core';
import { removeWithMounts } from '@cairn/local';
import { buildMcpServer } from '@cairn/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../../cli/init-server.ts';
import { runCli } from '../../cli/run-cli.test-support.ts';
import { composeServer } from '../../composition/compose-server.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { buildHttpApi } from '../../http/http-server.ts';
import { standardWebhookKey, standardWebhookProblem, standardWebhookSignature } from './standard-webhook-signature.ts';

/** A secret as a Standard Webhooks sender shows it: whsec_ and the base64 of random bytes. */
const webhookKey = randomBytes(32);
const webhookSecret = `whsec_${webhookKey.toString('base64')}`;

let composition: ServerComposition;
let close: () => Promise<void>;
let base: string;
let operatorToken: string;
let directory: string;

const page = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', '..', 'docs', 'guides', 'templates-from-webhooks-schedules-and-mcp.md'), 'utf8');
/** The block of the page fenced with this title (```yaml title="..."). */
const block = (title: string) => new RegExp(`^\`\`\`\\w+ title="${title.replace(/[()]/g, '\\$&')}"\\n([\\s\\S]*?)^\`\`\``, 'm').exec(page)![1]!;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'cairn-template-sources-'));
  chmodSync(directory, 0o711);
  mkdirSync(join(directory, 'templates'));
  writeFileSync(join(directory, 'templates', 'triage.yaml'), block('templates/triage.yaml'));
  const init = await initServer(directory);
  operatorToken = init.operatorToken;
  writeFileSync(
    init.configFile,
    stringifyYaml({
      ...(parseYaml(readFileSync(init.configFile, 'utf8')) as object),
      ...(parseYaml(block('cairn.config.yaml (the sections added)')) as object),
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
    action: 'Send /data/title in the payload, or give the parameter alert.title a default in templates.triage.',
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
  // A sender's payload is refused with advice about the payload, never the catalogue's default
  // (which is about two Cairn processes of different versions).
  expect([refusedNotJson.status, await refusedNotJson.json()]).toEqual([
    400,
    expect.objectContaining({
      message: 'The delivery to webhook alerts is not JSON; its parameters are read from a JSON payload.',
      action:
        'Send a JSON body (content-type application/json), signed as sent; config.triggers.webhooks.alerts.parameters names where in it each parameter is read.',
    }),
  ]);
  const long = await deliver(signed(alert({ title: 'x'.repeat(65_537) })));
  expect([long.status, await long.json()]).toEqual([
    400,
    expect.objectContaining({
      message: expect.stringContaining('65537 characters at "/data/title", more than the 65536 the template triage\'s parameter alert.title takes'),
      action: expect.stringMatching(/^Send at most 65536 characters at \/data\/title/),
    }),
  ]);
  const unknown = await deliver(signed(alert()), 'deploys');
  const notFound = (await unknown.json()) as { code: string; message: string };
  expect([unknown.status, notFound.code]).toEqual([404, 'CAIRN_NOT_FOUND']);
  // Anyone may post here: the answer does not name the webhooks there are.
  expect(notFound.message).not.toContain('alerts');
  expect(await submitted()).toBe(before);
});

test("the page's own sender (send-alert.ts) delivers as written: its run starts", async () => {
  writeFileSync(join(directory, 'send-alert.ts'), block('send-alert.ts'));
  const { sendAlert } = (await import(join(directory, 'send-alert.ts'))) as {
    sendAlert: (url: string, secret: string, payload: unknown) => Promise<Response>;
  };
  const response = await sendAlert(`${base}/v1/triggers/webhooks/alerts`, webhookSecret, alert({ id: 'A-20' }));
  expect(response.status).toBe(201);
  const { runId } = (await response.json()) as { runId: string };
  expect((await composition.service.spec(runId))?.name).toBe('alert A-20: Disk full on db-2');
});

/** The page's `cairn schedule add` line, split into arguments as a shell would (double quotes only). */
function scheduleCommandOfPage(): string[] {
  const line = /^cairn schedule add .*$/m.exec(page)![0];
  return [...line.matchAll(/(?:[^\s"]+|"[^"]*")+/g)].map(([word]) => word.replaceAll('"', '')).slice(1);
}

test("a schedule names a template: the page's command adds it, filled and checked then; a slot submits that spec; a bad one is refused, none made", async () => {
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${operatorToken}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    });
  // The built command, as a user runs it (and as the test command builds it): seconds faster to start than the source.
  const added = await runCli([...scheduleCommandOfPage(), '--server', base, '--json'], { env: { CAIRN_TOKEN: operatorToken }, built: true });
  expect(added).toMatchObject({ status: 0, stderr: '' });
  const schedule = JSON.parse(added.stdout) as { scheduleId: string; specDigest: string; cron: string };
  expect(schedule).toMatchObject({ scheduleId: 'nightly-triage', cron: '0 6 * * *' });

  // Every second, to see a slot fire: its run is the template filled when the schedule was added.
  const definition = {
    scheduleId: 'every-second',
    cron: '* * * * * *',
    template: { name: 'triage', parameters: { 'alert.id': 'S-1', 'alert.title': 'Tick' } },
  };
  const created = await api('/v1/schedules', { method: 'POST', body: JSON.stringify(definition) });
  expect(created.status).toBe(201);
  const { specDigest } = (await created.json()) as { specDigest: string };
  let firedRunId: string | undefined;
  for (let waited = 0; firedRunId === undefined && waited < 100; waited++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fired = (await entries('schedule.fired')).find((entry) => entry.entity.id === 'every-second' && entry.outcome === 'success');
    firedRunId = fired?.data['runId'] as string | undefined;
  }
  expect((await api('/v1/schedules/every-second', { method: 'DELETE' })).status).toBe(204);
  expect(await composition.service.run(firedRunId!)).toMatchObject({ specDigest });
  expect((await composition.service.spec(firedRunId!))?.name).toBe('alert S-1: Tick');
  // The same definition again is the same schedule (a retried request is harmless).
  expect(
    (
      await api('/v1/schedules', {
        method: 'POST',
        body: JSON.stringify({
          ...definition,
          scheduleId: 'nightly-triage',
          cron: '0 6 * * *',
          template: { name: 'triage', parameters: { 'alert.id': 'nightly', 'alert.title': 'Nightly triage' } },
        }),
      })
    ).status,
  ).toBe(201);

  const refusals = [
    [{ template: { name: 'triage', parameters: { 'alert.id': 'x' } } }, 400, 'CAIRN_PAYLOAD_INVALID', '--param alert.title='],
    [{ template: { name: 'triage', parameters: { 'alert.id': 'x', 'alert.title': 'y', colour: 'red' } } }, 400, 'CAIRN_PAYLOAD_INVALID', 'no parameter colour'],
    [
      { template: { name: 'triage', parameters: { 'alert.id': 'x', 'alert.title': 'y', 'alert.severity': 'two\nlines' } } },
      400,
      'CAIRN_RUN_SPEC_INVALID',
      'parameter alert.severity',
    ],
    [{ template: { name: 'deploy' } }, 404, 'CAIRN_NOT_FOUND', '"deploy"'],
    [
      { template: { name: 'triage', parameters: { 'alert.id': 'x', 'alert.title': 'y' } }, spec: { version: 1 } },
      400,
      'CAIRN_PAYLOAD_INVALID',
      'not both or neither',
    ],
  ] as const;
  for (const [body, status, code, message] of refusals) {
    const refused = await api('/v1/schedules', { method: 'POST', body: JSON.stringify({ scheduleId: 'refused', cron: '0 6 * * *', ...body }) });
    const answer = (await refused.json()) as { action?: string };
    expect([status, code, message, refused.status, answer]).toEqual([
      status,
      code,
      message,
      status,
      expect.objectContaining({ code, message: expect.stringContaining(message) }),
    ]);
    // The advice is about the template's parameters, not about Cairn versions.
    expect(answer.action, message).not.toContain('compatible Cairn versions');
  }
  expect(((await (await api('/v1/schedules')).json()) as { scheduleId: string }[]).map((listed) => listed.scheduleId)).toEqual(['nightly-triage']);
});

test('MCP: list_templates and submit_template_run, checked against the token as the HTTP routes are', async () => {
  const connected = async (token: string) => {
    const server = buildMcpServer(createCairnClient({ baseUrl: base, token }));
    const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
    await server.connect(serverTransport);
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(clientTransport);
    return client;
  };
  const token = async (name: string, scopes: string[]) => (await composition.tokens.create(name, scopes as never)).token;
  const reader = await connected(await token('mcp-reader', ['runs:read']));
  const agent = await connected(await token('mcp-agent', ['runs:read', 'runs:submit']));
  try {
    const listed = await reader.callTool({ name: 'list_templates', arguments: {} });
    expect(listed.structuredContent).toEqual({
      templates: [
        {
          name: 'triage',
          description: 'Triage an alert',
          parameters: [
            { name: 'alert.id', required: true },
            { name: 'alert.title', required: true },
            { name: 'alert.severity', required: false, default: 'unknown' },
            { name: 'alert.details', required: false, default: '' },
          ],
        },
      ],
    });
    const arguments_ = { template: 'triage', parameters: { 'alert.id': 'M-1', 'alert.title': 'From an agent' } };
    const forbidden = await reader.callTool({ name: 'submit_template_run', arguments: arguments_ });
    expect([forbidden.isError, JSON.stringify(forbidden.content)]).toEqual([true, expect.stringContaining('CAIRN_FORBIDDEN')]);
    const started = await agent.callTool({ name: 'submit_template_run', arguments: { ...arguments_, idempotencyKey: 'agent-1' } });
    const { runId } = started.structuredContent as { runId: string };
    expect(started.structuredContent).toMatchObject({ created: true, specDigest: expect.stringMatching(/^sha256:/) });
    expect((await composition.service.spec(runId))?.name).toBe('alert M-1: From an agent');
    expect((await entries('run.submitted')).at(-1)).toMatchObject({ runId, actor: { kind: 'token' } });
    const broken = await agent.callTool({
      name: 'submit_template_run',
      arguments: { template: 'triage', parameters: { ...arguments_.parameters, 'alert.severity': 'a\nb' } },
    });
    expect([broken.isError, JSON.stringify(broken.content)]).toEqual([true, expect.stringContaining('parameter alert.severity')]);
  } finally {
    await reader.close();
    await agent.close();
  }
});
