// Linear and Slack on two replicas of a server sharing one PostgreSQL database (each its own data
// directory, the keys copied as an operator distributes them), configured as
// docs/guides/linear-and-slack.md says: a request handled at the replica that does not run the
// engine is a duplicate at the one that does (its id claimed in the shared table); the run's end is
// answered once, by the leading replica, and after a failover the new leader answers nothing twice.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { buildHttpApi } from '../../http/http-server.ts';
import { issueEvent, linearDelivery, linearIssue } from './linear-deliveries.test-support.ts';
import { startLinearApi, type LinearApiStandIn } from './linear-graphql.test-support.ts';
import { appMention, slackChannel, slackRequest } from './slack-deliveries.test-support.ts';
import { startSlackApi, type SlackApiStandIn } from './slack-web-api.test-support.ts';

const page = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', '..', 'docs', 'guides', 'linear-and-slack.md'), 'utf8');
const block = (title: string) => new RegExp(`^\`\`\`\\w+ title="${title.replace(/[()]/g, '\\$&')}"\\n([\\s\\S]*?)^\`\`\``, 'm').exec(page)![1]!;
const linearSecret = 'lin_wh_replicas_3e9a';
const linearApiKey = 'lin_api_replicas_77b1';
const slackSigningSecret = 'b0c1d2e3f4a5968778695a4b3c2d1e0f';
const slackBotToken = 'xoxb-2002-3003-replicasToken';

const cleanups: (() => Promise<void> | void)[] = [];
let database: TestDatabase;
let linear: LinearApiStandIn;
let slack: SlackApiStandIn;
let a: Replica;
let b: Replica;

interface Replica {
  readonly composition: ServerComposition;
  readonly base: string;
  readonly directory: string;
  close(): Promise<void>;
}

async function replica(keysFrom?: string): Promise<Replica> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-linear-slack-replica-'));
  chmodSync(directory, 0o711);
  cleanups.push(() => removeWithMounts(directory));
  mkdirSync(join(directory, 'templates'));
  writeFileSync(join(directory, 'templates', 'fix-linear-issue.yaml'), block('templates/fix-linear-issue.yaml'));
  writeFileSync(join(directory, 'templates', 'ask-cairn.yaml'), block('templates/ask-cairn.yaml'));
  const { configFile } = await initServer(directory);
  const sections = parseYaml(block('cairn.config.yaml (Linear and Slack)')) as { server: object; triggers: { linear: object; slack: object } };
  const initial = parseYaml(readFileSync(configFile, 'utf8')) as { server?: object };
  writeFileSync(
    configFile,
    stringifyYaml({
      ...initial,
      ...sections,
      server: { ...initial.server, ...sections.server },
      triggers: { linear: { ...sections.triggers.linear, apiUrl: linear.url }, slack: { ...sections.triggers.slack, apiUrl: slack.url } },
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
  return { composition, base, directory, close };
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
  linear = await startLinearApi({ apiKey: linearApiKey, issues: [linearIssue.id] });
  slack = await startSlackApi({ botToken: slackBotToken, channels: [slackChannel] });
  cleanups.push(
    () => linear.close(),
    () => slack.close(),
  );
  a = await replica();
  await until('replica A to lead', () => leads(a.composition));
  b = await replica(a.directory);
  const operator = { kind: 'user', id: 'operator', via: 'cli' } as const;
  for (const [name, value] of [
    ['LINEAR_WEBHOOK_SECRET', linearSecret],
    ['LINEAR_API_KEY', linearApiKey],
    ['SLACK_SIGNING_SECRET', slackSigningSecret],
    ['SLACK_BOT_TOKEN', slackBotToken],
  ] as const)
    await a.composition.service.setSecret(name, value, operator);
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const post = async (at: Replica, path: string, request: RequestInit) => {
  const response = await fetch(`${at.base}${path}`, { ...request, signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

test(
  'a Linear delivery and a Slack mention at the replica that does not lead are handled there and duplicates at the leader; each run is answered once',
  { timeout: 60_000 },
  async () => {
    expect([leads(a.composition), leads(b.composition)]).toEqual([true, false]);
    const delivery = linearDelivery(issueEvent({ labels: ['cairn'], previousLabels: [] }), { secret: linearSecret });
    const handled = await post(b, '/v1/triggers/linear', delivery);
    expect(handled).toMatchObject({ status: 201, body: { duplicate: false, template: 'fix-linear-issue', created: true } });
    expect(await post(a, '/v1/triggers/linear', delivery)).toEqual({ status: 200, body: { duplicate: true } });
    const mention = JSON.stringify(appMention('rerun the nightly build'));
    const asked = await post(b, '/v1/triggers/slack', slackRequest(mention, { secret: slackSigningSecret, json: true }));
    expect(asked).toMatchObject({ status: 200, body: { duplicate: false, template: 'ask-cairn' } });
    expect(await post(a, '/v1/triggers/slack', slackRequest(mention, { secret: slackSigningSecret, json: true, retry: 1 }))).toEqual({
      status: 200,
      body: { duplicate: true },
    });
    const linearRun = handled.body.runId as string;
    const slackRun = asked.body.runId as string;
    expect(await a.composition.engine.waitForRun(linearRun)).toMatchObject({ state: 'succeeded' });
    expect(await a.composition.engine.waitForRun(slackRun)).toMatchObject({ state: 'succeeded' });
    await until(
      'both replies',
      () => linear.comments.some((comment) => comment.body.includes(linearRun)) && slack.messages.some((message) => message.text.includes(slackRun)),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(linear.comments.filter((comment) => comment.body.includes(linearRun))).toHaveLength(1);
    expect(slack.messages.filter((message) => message.text.includes(slackRun))).toHaveLength(1);
  },
);

test('after a failover the new leader sweeps the ended runs and answers none of them twice', { timeout: 60_000 }, async () => {
  const comments = linear.comments.length;
  const messages = slack.messages.length;
  await a.close();
  await until('replica B to lead', () => leads(b.composition));
  // B's replies start with the sweep of the last days' Linear and Slack runs: all answered already.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect([linear.comments.length, slack.messages.length]).toEqual([comments, messages]);
  // And B answers what ends from now on.
  const handled = await post(
    b,
    '/v1/triggers/linear',
    linearDelivery(issueEvent({ assigneeId: '9cfb482a-81e3-4154-b5b9-2c805e70a02d', previousAssigneeId: null }), { secret: linearSecret }),
  );
  expect(handled.status).toBe(201);
  const runId = handled.body.runId as string;
  expect(await b.composition.engine.waitForRun(runId)).toMatchObject({ state: 'succeeded' });
  await until('the new leader to reply', () => linear.comments.some((comment) => comment.body.includes(runId)));
  expect(linear.comments.length).toBe(comments + 1);
});
