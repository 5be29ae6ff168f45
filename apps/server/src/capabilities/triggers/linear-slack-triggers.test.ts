// Linear and Slack as trigger sources, end to end, as docs/guides/linear-and-slack.md sets them up
// (its templates and config as written, its secrets block run as written with `cairn`): a real
// server (SQLite, local seams, HTTP on loopback) takes requests signed as Linear and Slack sign
// them, runs the templates, and answers when the runs end through stand-ins for Linear's GraphQL
// API and Slack's Web API that check every request against the providers' published descriptions.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEntry } from '@cairn/core';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { httpApiSettingsOf } from '../../http/http-api-settings.ts';
import { buildHttpApi } from '../../http/http-server.ts';
import { issueEvent, linearDelivery, linearIssue, linearUserId } from './linear-deliveries.test-support.ts';
import { startLinearApi, type LinearApiStandIn } from './linear-graphql.test-support.ts';
import { appMention, slackChannel, slackRequest, slackUser, slashCommand, urlVerification } from './slack-deliveries.test-support.ts';
import { slackSignatureProblem } from './slack-signature.ts';
import { startSlackApi, type SlackApiStandIn } from './slack-web-api.test-support.ts';

const repositoryRoot = fileURLToPath(new URL('../../../../../', import.meta.url));
const guide = readFileSync(join(repositoryRoot, 'docs/guides/linear-and-slack.md'), 'utf8');
const titled = (title: string) => new RegExp(`^\`\`\`\\w+ title="${title.replace(/[()]/g, '\\$&')}"\\n([\\s\\S]*?)^\`\`\``, 'm').exec(guide)?.[1];
const shellBlocks = [...guide.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1]!);

const linearSecret = 'lin_wh_5c2b0f7e8d914a36b1c0e2f4a6d8b0c2';
const linearApiKey = 'lin_api_loopbackKey7f3e';
const slackSigningSecret = '8f742231b10e8888abcd99yyyzzz85a5';
const slackBotToken = 'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy';

let linear: LinearApiStandIn;
let slack: SlackApiStandIn;
let composition: ServerComposition;
let base: string;
let close: () => Promise<void>;

beforeAll(async () => {
  linear = await startLinearApi({ apiKey: linearApiKey, issues: [linearIssue.id] });
  slack = await startSlackApi({ botToken: slackBotToken, channels: [slackChannel] });
  const directory = mkdtempSync(join(tmpdir(), 'cairn-linear-slack-'));
  chmodSync(directory, 0o711);
  mkdirSync(join(directory, 'templates'));
  const init = await initServer(directory);
  writeFileSync(join(directory, 'templates', 'fix-linear-issue.yaml'), titled('templates/fix-linear-issue.yaml')!);
  writeFileSync(join(directory, 'templates', 'ask-cairn.yaml'), titled('templates/ask-cairn.yaml')!);
  // The guide's config as written, with Linear's and Slack's API on loopback.
  const sections = parseYaml(titled('cairn.config.yaml (Linear and Slack)')!) as {
    server: object;
    triggers: { linear: object; slack: object };
  };
  const initial = parseYaml(readFileSync(init.configFile, 'utf8')) as { server?: object };
  writeFileSync(
    init.configFile,
    stringifyYaml({
      ...initial,
      ...sections,
      server: { ...initial.server, ...sections.server },
      triggers: { linear: { ...sections.triggers.linear, apiUrl: linear.url }, slack: { ...sections.triggers.slack, apiUrl: slack.url } },
    }),
  );
  // The guide's secrets block as written, in the server's folder before it serves, from the files it names.
  writeFileSync(join(directory, 'linear-webhook-secret.txt'), linearSecret);
  writeFileSync(join(directory, 'linear-api-key.txt'), linearApiKey);
  writeFileSync(join(directory, 'slack-signing-secret.txt'), slackSigningSecret);
  writeFileSync(join(directory, 'slack-bot-token.txt'), slackBotToken);
  const secrets = await runBlock(
    shellBlocks.find((block) => block.startsWith('cairn secret set LINEAR_WEBHOOK_SECRET'))!,
    directory,
  );
  expect(secrets.status, secrets.output).toBe(0);
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  composition = await composeServer(loaded);
  const http = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1' });
  composition.start();
  base = await http.listen({ host: '127.0.0.1', port: 0 });
  close = async () => {
    await http.close();
    await composition.close();
    removeWithMounts(directory);
  };
}, 120_000);

afterAll(async () => {
  await close?.();
  await linear?.close();
  await slack?.close();
});

/** Runs a shell block of the guide as written (bash -euo pipefail), `cairn` being this checkout's CLI from its source. */
function runBlock(block: string, cwd: string): Promise<{ status: number | null; output: string }> {
  const bin = mkdtempSync(join(tmpdir(), 'cairn-bin-'));
  const cli = join(repositoryRoot, 'apps/server/src/cli/cli.ts');
  writeFileSync(join(bin, 'cairn'), `#!/bin/sh\nexec "${process.execPath}" --conditions=@cairn/source "${cli}" "$@"\n`, { mode: 0o755 });
  const shell = spawn('bash', ['-euo', 'pipefail', '-c', block], {
    cwd,
    env: { HOME: cwd, LANG: 'C.UTF-8', PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  shell.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  shell.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return new Promise((resolve) => shell.on('close', (status) => resolve({ status, output })));
}

const toLinear = (request: RequestInit) => fetch(`${base}/v1/triggers/linear`, request);
const toSlack = (request: RequestInit) => fetch(`${base}/v1/triggers/slack`, request);
const submitted = async () => (await entries('run.submitted')).length;

async function entries(action: string): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  for await (const entry of composition.service.auditEntries()) if (entry.action === action) found.push(entry);
  return found;
}

async function lastDenial(): Promise<AuditEntry> {
  return (await entries('access.denied')).at(-1)!;
}

/** Waits until `list` holds more than `count` entries (a reply posted after the run ended). */
async function more<T>(list: readonly T[], count: number): Promise<T> {
  for (let waited = 0; list.length <= count; waited += 50) {
    if (waited > 20_000) throw new Error('no reply within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return list[count]!;
}

test("Slack's documented signature example verifies; another body, timestamp or secret, or a stale request, does not", () => {
  // The example of Slack's "Verifying requests from Slack".
  const body = Buffer.from(
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  );
  const headers = { timestamp: '1531420618', signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503' };
  const at = 1531420618_000;
  expect(slackSignatureProblem(slackSigningSecret, headers, body, 300, at)).toBeUndefined();
  expect(slackSignatureProblem(slackSigningSecret, headers, Buffer.from(body.toString().replace('foobar', 'foobaz')), 300, at)).toContain(
    'not the HMAC-SHA256',
  );
  expect(slackSignatureProblem(slackSigningSecret, { ...headers, timestamp: '1531420619' }, body, 300, at)).toContain('not the HMAC-SHA256');
  expect(slackSignatureProblem('another-secret', headers, body, 300, at)).toContain('not the HMAC-SHA256');
  expect(slackSignatureProblem(slackSigningSecret, headers, body, 300, at + 301_000)).toContain('301 s old');
  expect(slackSignatureProblem(slackSigningSecret, { ...headers, signature: undefined }, body, 300, at)).toContain('no X-Slack-Signature');
});

test(
  'Linear: an issue given the cairn label starts one run with the issue as parameters; its end is commented on the issue through commentCreate, once',
  { timeout: 60_000 },
  async () => {
    const before = await submitted();
    const comments = linear.comments.length;
    const delivery = linearDelivery(issueEvent({ labels: ['Bug', 'cairn'], previousLabels: ['Bug'] }), { secret: linearSecret });
    const response = await toLinear(delivery);
    const answer = (await response.json()) as { runId: string; template: string; duplicate: boolean; created: boolean };
    expect(response.status, JSON.stringify(answer)).toBe(201);
    expect(answer).toMatchObject({ duplicate: false, template: 'fix-linear-issue', created: true });
    const spec = await composition.service.spec(answer.runId);
    expect(spec?.name).toBe('ENG-1778: Spelling error in the README file');
    expect(spec?.labels).toMatchObject({ 'linear-url': linearIssue.url, trigger: 'linear', 'linear.issue': linearIssue.id, 'linear.identifier': 'ENG-1778' });
    expect(spec?.items[0]?.runtime).toMatchObject({ argv: ['/bin/echo', linearIssue.title, linearIssue.description] });
    expect((await entries('run.submitted')).at(-1)).toMatchObject({ runId: answer.runId, actor: { kind: 'system', id: 'linear', via: 'http' } });
    expect(await submitted()).toBe(before + 1);
    expect((await composition.engine.waitForRun(answer.runId)).state).toBe('succeeded');

    const comment = await more(linear.comments, comments);
    expect(comment.issueId).toBe(linearIssue.id);
    expect(comment.body).toContain(`[\`${answer.runId}\`](https://cairn.example.com/v1/runs/${answer.runId})`);
    expect(comment.body).toContain('**succeeded**');
    expect(comment.body).toContain(`https://cairn.example.com/v1/runs/${answer.runId}/bundle`);
    expect(linear.refused).toEqual([]);
    // Linear's redelivery of the same delivery runs nothing, and nothing more is commented.
    const replay = await toLinear(delivery);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ duplicate: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await submitted()).toBe(before + 1);
    expect(linear.comments.length).toBe(comments + 1);
  },
);

test(
  'Linear: an issue assigned to the configured user starts a run; an edit that keeps the label, or another event, starts nothing',
  { timeout: 60_000 },
  async () => {
    const before = await submitted();
    const assigned = await toLinear(linearDelivery(issueEvent({ assigneeId: linearUserId, previousAssigneeId: null }), { secret: linearSecret }));
    const answer = (await assigned.json()) as { runId: string; template: string };
    expect(assigned.status, JSON.stringify(answer)).toBe(201);
    expect(answer.template).toBe('fix-linear-issue');
    expect((await composition.service.spec(answer.runId))?.labels).toMatchObject({ 'linear.by': `Ada Lovelace (assigned to ${linearUserId})` });
    // A title edited on an issue that already had the label: updatedFrom names no labelIds.
    const edited = await toLinear(linearDelivery(issueEvent({ labels: ['cairn'], title: 'Spelling error in the README' }), { secret: linearSecret }));
    expect(edited.status).toBe(200);
    expect(await edited.json()).toMatchObject({ duplicate: false, ignored: expect.stringContaining('gained none of the labels') });
    const removed = await toLinear(linearDelivery(issueEvent({ action: 'remove', labels: ['cairn'] }), { secret: linearSecret }));
    expect(await removed.json()).toMatchObject({ ignored: 'Issue remove starts no run (only create and update do)' });
    expect(await submitted()).toBe(before + 1);
    await composition.engine.waitForRun(answer.runId);
  },
);

test('Linear: a delivery unsigned, signed with another secret, or stale is refused 401 and audited; nothing runs', async () => {
  const before = await submitted();
  const payload = issueEvent({ labels: ['cairn'], previousLabels: [] });
  const unsigned = await toLinear(linearDelivery(payload, { secret: linearSecret, unsigned: true }));
  expect(unsigned.status).toBe(401);
  expect(await unsigned.json()).toMatchObject({
    code: 'CAIRN_UNAUTHENTICATED',
    message: expect.stringContaining('no Linear-Signature'),
    path: 'linear-signature',
  });
  expect(await lastDenial()).toMatchObject({
    actor: { kind: 'system', id: 'unverified-linear-delivery' },
    entity: { kind: 'server', id: 'triggers/linear' },
    data: expect.objectContaining({ action: 'triggers.linear', reason: expect.stringContaining('no Linear-Signature') }),
  });
  const forged = await toLinear(linearDelivery(payload, { secret: 'lin_wh_not-the-secret' }));
  expect(forged.status).toBe(401);
  expect(await forged.json()).toMatchObject({ message: expect.stringContaining('not the HMAC-SHA256 of the body') });
  expect(await lastDenial()).toMatchObject({ data: expect.objectContaining({ reason: expect.stringContaining('not the HMAC-SHA256 of the body') }) });
  // Signed with the right secret, but sent two minutes ago: beyond Linear's minute.
  const stale = await toLinear(
    linearDelivery(issueEvent({ labels: ['cairn'], previousLabels: [], webhookTimestamp: Date.now() - 120_000 }), { secret: linearSecret }),
  );
  expect(stale.status).toBe(401);
  expect(await stale.json()).toMatchObject({ message: expect.stringContaining('beyond the tolerance of 60 s'), path: 'body.webhookTimestamp' });
  expect(await lastDenial()).toMatchObject({
    actor: { id: 'unverified-linear-delivery' },
    data: expect.objectContaining({ reason: expect.stringContaining('stale or replayed') }),
  });
  expect(await submitted()).toBe(before);
});

test("Slack: the Request URL's url_verification challenge is answered", async () => {
  const response = await toSlack(slackRequest(JSON.stringify(urlVerification), { secret: slackSigningSecret, json: true }));
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ duplicate: false, challenge: urlVerification.challenge });
});

test(
  'Slack: a slash command is answered at once with its run; the run’s end is posted to the channel with chat.postMessage, once; the same trigger_id again runs nothing',
  { timeout: 60_000 },
  async () => {
    const before = await submitted();
    const posted = slack.messages.length;
    const request = slackRequest(slashCommand('/cairn', 'fix the flaky test'), { secret: slackSigningSecret });
    const started = Date.now();
    const response = await toSlack(request);
    const answer = (await response.json()) as { runId: string; template: string; response_type: string; text: string };
    expect(response.status, JSON.stringify(answer)).toBe(200);
    // Within Slack's 3 s: the run goes on in the background.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(answer).toMatchObject({ duplicate: false, template: 'ask-cairn', created: true, response_type: 'ephemeral' });
    expect(answer.text).toBe(`Started run ${answer.runId} (template ask-cairn); its end will be posted in this channel.`);
    const spec = await composition.service.spec(answer.runId);
    expect(spec?.name).toBe('asked in Slack: fix the flaky test');
    expect(spec?.items[0]?.runtime).toMatchObject({ argv: ['/bin/echo', `${slackUser} asked: fix the flaky test`] });
    expect(spec?.labels).toMatchObject({ trigger: 'slack', 'slack.channel': slackChannel, 'slack.user': slackUser });
    expect((await entries('run.submitted')).at(-1)).toMatchObject({ runId: answer.runId, actor: { kind: 'system', id: 'slack' } });
    expect((await composition.engine.waitForRun(answer.runId)).state).toBe('succeeded');

    const message = await more(slack.messages, posted);
    expect(message).toMatchObject({ channel: slackChannel });
    expect(message.thread_ts).toBeUndefined();
    expect(message.text).toBe(
      `<@${slackUser}> Cairn run <https://cairn.example.com/v1/runs/${answer.runId}|${answer.runId}> (asked in Slack: fix the flaky test) *succeeded*. Evidence bundle: https://cairn.example.com/v1/runs/${answer.runId}/bundle`,
    );
    expect(slack.refused).toEqual([]);
    const replay = await toSlack(request);
    expect(await replay.json()).toMatchObject({ duplicate: true, text: 'This command was handled already.' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await submitted()).toBe(before + 1);
    expect(slack.messages.length).toBe(posted + 1);
  },
);

test("Slack: a mention starts a run, replied to in the mention's thread; Slack's retry of the same event_id runs nothing", { timeout: 60_000 }, async () => {
  const before = await submitted();
  const posted = slack.messages.length;
  const event = appMention('bump the <lodash> version & test', { threadTs: '1515449400.000100' });
  const response = await toSlack(slackRequest(JSON.stringify(event), { secret: slackSigningSecret, json: true }));
  const answer = (await response.json()) as { runId: string };
  expect(response.status, JSON.stringify(answer)).toBe(200);
  expect(answer).toMatchObject({ duplicate: false, template: 'ask-cairn' });
  expect((await composition.service.spec(answer.runId))?.labels).toMatchObject({ 'slack.thread': '1515449400.000100' });
  const retry = await toSlack(slackRequest(JSON.stringify(event), { secret: slackSigningSecret, json: true, retry: 1 }));
  expect(await retry.json()).toEqual({ duplicate: true });
  expect(await submitted()).toBe(before + 1);
  await composition.engine.waitForRun(answer.runId);
  const message = await more(slack.messages, posted);
  expect(message).toMatchObject({ channel: slackChannel, thread_ts: '1515449400.000100' });
  // The asker's text is Slack's markup only when escaped: < > & arrive as text.
  expect(message.text).toContain('(asked in Slack: bump the &lt;lodash&gt; version &amp; test)');
});

test('Slack: a request unsigned, signed with another secret, or stale is refused 401 and audited; nothing runs', async () => {
  const before = await submitted();
  const body = slashCommand('/cairn', 'deploy');
  const unsigned = await toSlack(slackRequest(body, { secret: slackSigningSecret, unsigned: true }));
  expect(unsigned.status).toBe(401);
  expect(await unsigned.json()).toMatchObject({
    code: 'CAIRN_UNAUTHENTICATED',
    message: expect.stringContaining('no X-Slack-Signature'),
    path: 'x-slack-signature',
  });
  expect(await lastDenial()).toMatchObject({
    actor: { kind: 'system', id: 'unverified-slack-request' },
    entity: { kind: 'server', id: 'triggers/slack' },
    data: expect.objectContaining({ action: 'triggers.slack', reason: expect.stringContaining('no X-Slack-Signature') }),
  });
  const forged = await toSlack(slackRequest(body, { secret: 'another-signing-secret' }));
  expect(forged.status).toBe(401);
  expect(await forged.json()).toMatchObject({ message: expect.stringContaining('not the HMAC-SHA256') });
  expect(await lastDenial()).toMatchObject({ data: expect.objectContaining({ reason: expect.stringContaining('not the HMAC-SHA256') }) });
  // Signed with the right secret six minutes ago: a captured request replayed.
  const stale = await toSlack(slackRequest(body, { secret: slackSigningSecret, timestamp: Math.floor(Date.now() / 1_000) - 360 }));
  expect(stale.status).toBe(401);
  expect(await stale.json()).toMatchObject({ message: expect.stringContaining('beyond the tolerance of 300 s'), path: 'x-slack-request-timestamp' });
  expect(await lastDenial()).toMatchObject({ data: expect.objectContaining({ reason: expect.stringContaining('stale or replayed') }) });
  // A command the config does not name starts nothing, and says so.
  const other = await toSlack(slackRequest(slashCommand('/deploy', 'prod'), { secret: slackSigningSecret }));
  expect(await other.json()).toMatchObject({ ignored: expect.stringContaining('/deploy starts no run'), response_type: 'ephemeral' });
  expect(await submitted()).toBe(before);
});

test("the stand-ins refuse what the providers' published descriptions do not allow: a field Linear's schema lacks, an argument chat.postMessage does not declare", async () => {
  // commentCreate's input has issueId, not issue: Linear's schema refuses it before anything runs.
  const malformed = await fetch(linear.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: linearApiKey },
    body: JSON.stringify({
      query: 'mutation { commentCreate(input: { issue: "ENG-1778", body: "hi" }) { success comment { id } } }',
    }),
  });
  expect(malformed.status).toBe(400);
  expect(linear.refused.at(-1)?.messages.join(' ')).toContain('Expected value of type "CommentCreateInput" not to include unknown field "issue"');
  // A variable of the wrong type is refused too.
  const mistyped = await fetch(linear.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: linearApiKey },
    body: JSON.stringify({
      query: 'mutation M($input: CommentCreateInput!) { commentCreate(input: $input) { success } }',
      variables: { input: { issueId: 42 } },
    }),
  });
  expect(mistyped.status).toBe(400);
  const unknownArgument = await fetch(`${slack.url}/chat.postMessage`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${slackBotToken}` },
    body: new URLSearchParams({ channel: slackChannel, text: 'hi', thread: '1515449400.000100' }).toString(),
  });
  expect(await unknownArgument.json()).toEqual({ ok: false, error: 'invalid_arg_name' });
  expect(slack.refused.at(-1)).toEqual({ error: 'invalid_arg_name', detail: 'thread' });
  const notBoolean = await fetch(`${slack.url}/chat.postMessage`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${slackBotToken}` },
    body: new URLSearchParams({ channel: slackChannel, text: 'hi', unfurl_links: 'no' }).toString(),
  });
  expect(await notBoolean.json()).toEqual({ ok: false, error: 'invalid_form_data' });
});

test('a run that ended while no replica followed is answered when the replies start again, and only once', { timeout: 60_000 }, async () => {
  const replies = composition.triggers.sourceReplies!;
  const comments = linear.comments.length;
  await replies.stop();
  const response = await toLinear(linearDelivery(issueEvent({ labels: ['cairn'], previousLabels: [] }), { secret: linearSecret }));
  const { runId } = (await response.json()) as { runId: string };
  expect(response.status).toBe(201);
  expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(linear.comments.length).toBe(comments);
  replies.start();
  expect((await more(linear.comments, comments)).body).toContain(runId);
  // Started again, the sweep finds the same run: its reply is claimed already.
  await replies.stop();
  replies.start();
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(linear.comments.filter((comment) => comment.body.includes(runId))).toHaveLength(1);
});

test('a reply Slack refuses (the app not in the channel) is not retried, and the run is unaffected', { timeout: 60_000 }, async () => {
  const refused = slack.refused.length;
  const posted = slack.messages.length;
  const elsewhere = appMention('look here');
  const event = { ...elsewhere, event: { ...elsewhere.event, channel: 'C0NOTJOINED' } };
  const response = await toSlack(slackRequest(JSON.stringify(event), { secret: slackSigningSecret, json: true }));
  const { runId } = (await response.json()) as { runId: string };
  expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
  expect(await more(slack.refused, refused)).toEqual({ error: 'not_in_channel', detail: 'C0NOTJOINED' });
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(slack.refused.length).toBe(refused + 1);
  expect(slack.messages.length).toBe(posted);
});
