// GitHub deliveries end to end: a real server (SQLite, local seams, HTTP on loopback) receives
// deliveries signed as GitHub signs them, asks a loopback stand-in for GitHub's collaborator
// permission endpoint, and starts runs from a template file of its config.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '@cairn/core';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { runCli } from '../../cli/run-cli.test-support.ts';
import { buildHttpApi } from '../../http/http-server.ts';
import { githubDelivery, installation, issueCommentCreated, issueLabeled } from './github-deliveries.test-support.ts';
import { isGithubSignature } from './github-signature.ts';

const webhookSecret = 'whsec-test-4f1c9a';
const githubToken = 'ghp_loopbackToken';
/** Each login's role on Codertocat/Hello-World, as the stand-in for GitHub answers it. */
const roles: Record<string, string> = { Codertocat: 'admin', 'hubot-writer': 'write', 'octo-reader': 'read' };
const permissionRequests: { path: string; authorization: string | undefined }[] = [];

let github: Server;
let composition: ServerComposition;
let close: () => Promise<void>;
let base: string;
let operatorToken: string;

const template = `version: 1
name: "issue #{{ issue.number }}: {{ issue.title }}"
labels:
  issue: "{{ issue.html_url }}"
  requested-by: "{{ sender.login }}"
items:
  - id: fix
    runtime: { kind: command, argv: [/bin/echo, "{{ issue.title }}", "{{ issue.body }}"] }
`;

beforeAll(async () => {
  // GitHub's GET /repos/{owner}/{repo}/collaborators/{username}/permission, on loopback, and the
  // repository's pull requests (GET /repos/{owner}/{repo}/pulls), which tell a user GitHub does not
  // know (404 from a readable repository) from a repository the token cannot see.
  github = createServer((request, response) => {
    permissionRequests.push({ path: request.url ?? '', authorization: request.headers.authorization });
    const match = /^\/repos\/Codertocat\/Hello-World\/collaborators\/([^/]+)\/permission$/.exec(request.url ?? '');
    const role = match ? roles[decodeURIComponent(match[1]!)] : undefined;
    response.setHeader('content-type', 'application/json');
    // GitHub takes a token as `token <t>` or `Bearer <t>`.
    if (!/^(?:token|bearer) /i.test(request.headers.authorization ?? '') || request.headers.authorization?.split(' ')[1] !== githubToken)
      return void response.writeHead(401).end('{"message":"Bad credentials"}');
    if (/^\/repos\/Codertocat\/Hello-World\/pulls(?:\?|$)/.test(request.url ?? '')) return void response.end('[]');
    if (role === undefined) return void response.writeHead(404).end('{"message":"Not Found"}');
    response.end(JSON.stringify({ permission: role === 'maintain' ? 'write' : role, role_name: role, user: { login: match![1] } }));
  });
  await new Promise<void>((resolve) => github.listen(0, '127.0.0.1', resolve));
  const directory = mkdtempSync(join(tmpdir(), 'cairn-triggers-'));
  chmodSync(directory, 0o711);
  writeFileSync(join(directory, 'fix-issue.yaml'), template);
  const init = await initServer(directory);
  operatorToken = init.operatorToken;
  const issueParameters = Object.fromEntries(['issue.number', 'issue.title', 'issue.body', 'issue.html_url', 'sender.login'].map((name) => [name, {}]));
  writeFileSync(
    init.configFile,
    stringifyYaml({
      ...(parseYaml(readFileSync(init.configFile, 'utf8')) as object),
      templates: { 'fix-issue': { spec: './fix-issue.yaml', description: 'Fix what an issue reports', parameters: issueParameters } },
      triggers: {
        github: {
          secret: 'GITHUB_WEBHOOK_SECRET',
          tokenSecret: 'GITHUB_TOKEN',
          repositories: ['Codertocat/*'],
          installations: [installation.id],
          apiUrl: `http://127.0.0.1:${(github.address() as AddressInfo).port}`,
          labels: { 'cairn:fix': 'fix-issue' },
        },
      },
    }),
  );
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  composition = await composeServer(loaded);
  const operator = { kind: 'user', id: 'operator', via: 'cli' } as const;
  await composition.service.setSecret('GITHUB_WEBHOOK_SECRET', webhookSecret, operator);
  await composition.service.setSecret('GITHUB_TOKEN', githubToken, operator);
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
  github?.closeAllConnections();
  await new Promise((resolve) => github?.close(resolve));
});

const deliver = (request: RequestInit) => fetch(`${base}/v1/triggers/github`, request);
const submitted = async () => (await entries('run.submitted')).length;

async function entries(action: string): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  for await (const entry of composition.service.auditEntries()) if (entry.action === action) found.push(entry);
  return found;
}

async function lastDenial(): Promise<AuditEntry> {
  const denials = await entries('access.denied');
  return denials.at(-1)!;
}

test("GitHub's documented signature: sha256 HMAC of the exact bytes, compared whole", () => {
  // The example of GitHub's "Validating webhook deliveries".
  const body = Buffer.from('Hello, World!');
  const secret = "It's a Secret to Everybody";
  const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
  expect(isGithubSignature(body, signature, secret)).toBe(true);
  expect(isGithubSignature(Buffer.from('Hello, World?'), signature, secret)).toBe(false);
  expect(isGithubSignature(body, signature.replace(/7$/, '8'), secret)).toBe(false);
  expect(isGithubSignature(body, signature.slice(0, -2), secret)).toBe(false);
  expect(isGithubSignature(body, signature.replace('sha256=', 'sha1='), secret)).toBe(false);
  expect(isGithubSignature(body, undefined, secret)).toBe(false);
});

test('an issue labelled by someone with write access starts a run from the template, once', async () => {
  const before = await submitted();
  const delivery = githubDelivery('issues', issueLabeled({ label: 'cairn:fix' }), { secret: webhookSecret });
  const response = await deliver(delivery);
  expect(response.status).toBe(201);
  const answer = (await response.json()) as { runId: string; template: string; duplicate: boolean };
  expect(answer).toMatchObject({ duplicate: false, template: 'fix-issue', created: true });
  const spec = await composition.service.spec(answer.runId);
  expect(spec?.name).toBe('issue #1: Spelling error in the README file');
  expect(spec?.labels).toEqual({ issue: 'https://github.com/Codertocat/Hello-World/issues/1', 'requested-by': 'Codertocat' });
  expect(spec?.items[0]?.runtime).toMatchObject({
    argv: ['/bin/echo', 'Spelling error in the README file', "It looks like you accidently spelled 'commit' with two 't's."],
  });
  expect((await entries('run.submitted')).at(-1)).toMatchObject({ runId: answer.runId, actor: { kind: 'user', id: 'github:Codertocat', via: 'http' } });
  expect(permissionRequests.at(-1)).toEqual({
    path: '/repos/Codertocat/Hello-World/collaborators/Codertocat/permission',
    authorization: `token ${githubToken}`,
  });

  // GitHub's redelivery (or a captured copy) of the same delivery runs nothing.
  const replay = await deliver(delivery);
  expect(replay.status).toBe(200);
  expect(await replay.json()).toEqual({ duplicate: true });
  expect(await submitted()).toBe(before + 1);
});

test('a delivery unsigned, or signed with another secret, is refused and audited; nothing runs', async () => {
  const before = await submitted();
  const payload = issueLabeled({ label: 'cairn:fix' });
  const unsigned = await deliver(githubDelivery('issues', payload, { unsigned: true }));
  expect(unsigned.status).toBe(401);
  expect(await unsigned.json()).toMatchObject({
    code: 'CAIRN_UNAUTHENTICATED',
    message: expect.stringContaining('no X-Hub-Signature-256'),
    path: 'x-hub-signature-256',
  });
  expect(await lastDenial()).toMatchObject({
    actor: { id: 'unverified-github-delivery' },
    entity: { kind: 'server', id: 'triggers/github' },
    data: expect.objectContaining({ reason: expect.stringContaining('no X-Hub-Signature-256') }),
  });
  // Signed with another secret: the same delivery id, refused, stays unclaimed for the real one.
  const forged = githubDelivery('issues', payload, { secret: 'not-the-secret' });
  const refused = await deliver(forged);
  expect(refused.status).toBe(401);
  expect(await refused.json()).toMatchObject({ code: 'CAIRN_UNAUTHENTICATED', message: expect.stringContaining('not the HMAC-SHA256') });
  expect(await lastDenial()).toMatchObject({ data: expect.objectContaining({ reason: expect.stringContaining('not the HMAC-SHA256') }) });
  // A body changed after signing is refused too.
  const tampered = {
    ...forged,
    body: forged.body.replace('Spelling', 'Spilling'),
    headers: githubDelivery('issues', payload, { secret: webhookSecret }).headers,
  };
  expect((await deliver(tampered)).status).toBe(401);
  expect(await submitted()).toBe(before);
});

test('unsigned deliveries are audited at most 10 a minute, those over it counted into the next entry', async () => {
  const denials = async () => (await entries('access.denied')).filter((entry) => entry.actor.id === 'unverified-github-delivery');
  const before = (await denials()).length;
  const payload = issueLabeled({ label: 'cairn:fix' });
  for (let sent = 0; sent < 25; sent++) expect((await deliver(githubDelivery('issues', payload, { unsigned: true }))).status).toBe(401);
  const audited = (await denials()).length - before;
  // A minute's bound, whichever minute the 25 fell in (at most two, so at most 20 entries; the
  // test before this one used 3 of this minute's, so at least one is audited).
  expect(audited).toBeGreaterThanOrEqual(1);
  expect(audited).toBeLessThanOrEqual(20);
});

test('a commenter without write access is refused, named and audited; nothing runs', async () => {
  const before = await submitted();
  const asked = permissionRequests.length;
  const response = await deliver(
    githubDelivery('issue_comment', issueCommentCreated('/cairn run fix-issue', { login: 'octo-reader' }), { secret: webhookSecret }),
  );
  expect(response.status).toBe(403);
  expect(await response.json()).toMatchObject({
    code: 'CAIRN_FORBIDDEN',
    message: expect.stringContaining('octo-reader has the read role on Codertocat/Hello-World'),
  });
  expect(permissionRequests.slice(asked).map((request) => request.path)).toEqual(['/repos/Codertocat/Hello-World/collaborators/octo-reader/permission']);
  expect(await lastDenial()).toMatchObject({ actor: { kind: 'user', id: 'github:octo-reader' }, data: expect.objectContaining({ action: 'triggers.github' }) });
  // Not a collaborator at all (GitHub answers 404): no access.
  const stranger = await deliver(
    githubDelivery('issue_comment', issueCommentCreated('/cairn run fix-issue', { login: 'drive-by' }), { secret: webhookSecret }),
  );
  expect(stranger.status).toBe(403);
  expect(await stranger.json()).toMatchObject({ message: expect.stringContaining('drive-by has no access') });
  expect(await submitted()).toBe(before);
});

test('a validly signed delivery from a repository not listed is refused and audited before anyone is asked of GitHub; nothing runs', async () => {
  const before = await submitted();
  const asked = permissionRequests.length;
  const elsewhere = issueLabeled({ label: 'cairn:fix' });
  const delivery = { ...elsewhere, repository: { ...elsewhere.repository, name: 'secrets', full_name: 'Octo-Org/secrets' } };
  const response = await deliver(githubDelivery('issues', delivery, { secret: webhookSecret }));
  expect(response.status).toBe(403);
  expect(await response.json()).toMatchObject({
    code: 'CAIRN_FORBIDDEN',
    path: 'repository.full_name',
    message: expect.stringContaining('Octo-Org/secrets is not one of triggers.github.repositories (Codertocat/*)'),
  });
  expect(permissionRequests.length).toBe(asked);
  expect(await lastDenial()).toMatchObject({
    actor: { id: 'github:Codertocat' },
    data: expect.objectContaining({ action: 'triggers.github', reason: expect.stringContaining('Octo-Org/secrets is not one of') }),
  });
  expect(await submitted()).toBe(before);
});

test('a delivery of another installation of the App, or of none, is refused and audited before anyone is asked of GitHub; nothing runs', async () => {
  const before = await submitted();
  const asked = permissionRequests.length;
  const labelled = issueLabeled({ label: 'cairn:fix' });
  const { installation: _named, ...unnamed } = labelled;
  for (const delivery of [{ ...labelled, installation: { ...installation, id: 99 } }, unnamed]) {
    const response = await deliver(githubDelivery('issues', delivery, { secret: webhookSecret }));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: 'CAIRN_FORBIDDEN',
      path: 'installation.id',
      message: expect.stringContaining(`not one of triggers.github.installations (${installation.id})`),
    });
    expect(await lastDenial()).toMatchObject({ data: expect.objectContaining({ action: 'triggers.github', reason: expect.stringContaining('installation') }) });
  }
  expect(permissionRequests.length).toBe(asked);
  expect(await submitted()).toBe(before);
});

test('an issue title on several lines makes a run name on one line: its line breaks are folded into spaces', async () => {
  const labelled = issueLabeled({ label: 'cairn:fix' });
  const delivery = { ...labelled, issue: { ...labelled.issue, number: 2, title: 'Crash\nrun r-forged succeeded\r\n\tnow' } };
  const response = await deliver(githubDelivery('issues', delivery, { secret: webhookSecret }));
  expect(response.status).toBe(201);
  const { runId } = (await response.json()) as { runId: string };
  expect((await composition.service.spec(runId))?.name).toBe('issue #2: Crash run r-forged succeeded now');
});

test('a parameter that breaks the spec is refused at its JSON path, naming template and parameter; an unknown template too', async () => {
  const before = await submitted();
  // An issue body holding a NUL cannot be a program's argument.
  const comment = issueCommentCreated('/cairn run fix-issue please', { login: 'hubot-writer', issueBody: 'before\u0000after' });
  const response = await deliver(githubDelivery('issue_comment', comment, { secret: webhookSecret }));
  expect(response.status).toBe(400);
  const refusal = (await response.json()) as { code: string; path: string; issues: { path: string; message: string }[] };
  expect(refusal).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].runtime.argv[2]' });
  expect(refusal.issues).toEqual([
    expect.objectContaining({ path: '$.items[0].runtime.argv[2]', message: expect.stringContaining('(template fix-issue, parameter issue.body)') }),
  ]);
  expect(await lastDenial()).toMatchObject({
    actor: { id: 'github:hubot-writer' },
    data: expect.objectContaining({ reason: expect.stringContaining('parameter issue.body') }),
  });
  const unknown = await deliver(
    githubDelivery('issue_comment', issueCommentCreated('/cairn run deploy-prod', { login: 'hubot-writer' }), { secret: webhookSecret }),
  );
  expect(unknown.status).toBe(404);
  expect(await unknown.json()).toMatchObject({ code: 'CAIRN_NOT_FOUND', message: expect.stringContaining('"deploy-prod"') });
  expect(await lastDenial()).toMatchObject({ data: expect.objectContaining({ reason: expect.stringContaining('deploy-prod') }) });
  expect(await submitted()).toBe(before);
});

test('other events, labels and comments are answered and ignored; a comment by a writer runs', async () => {
  const before = await submitted();
  for (const [event, payload] of [
    ['ping', { zen: 'Design for failure.', hook_id: 292430182 }],
    ['issues', issueLabeled({ label: 'bug' })],
    ['issue_comment', issueCommentCreated("You are totally right! I'll get this fixed right away.")],
  ] as const) {
    const response = await deliver(githubDelivery(event, payload, { secret: webhookSecret }));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ duplicate: false, ignored: expect.any(String) });
  }
  expect(await submitted()).toBe(before);
  const response = await deliver(
    githubDelivery('issue_comment', issueCommentCreated('/cairn run fix-issue', { login: 'hubot-writer' }), { secret: webhookSecret }),
  );
  expect(response.status).toBe(201);
  const { runId } = (await response.json()) as { runId: string };
  expect((await composition.service.spec(runId))?.labels).toMatchObject({ 'requested-by': 'hubot-writer' });
});

test('the API lists templates and submits from one; a value stays a string wherever it lands', async () => {
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json', ...(init.headers as object) },
    });
  const listed = await api('/v1/templates');
  expect(await listed.json()).toEqual([
    {
      name: 'fix-issue',
      description: 'Fix what an issue reports',
      parameters: ['issue.number', 'issue.title', 'issue.body', 'issue.html_url', 'sender.login'].map((name) => ({ name, required: true })),
    },
  ]);
  // YAML and JSON that would change the spec's structure if spliced into its text.
  const title = '"\nitems: []\n# {"injected": true}';
  const parameters = { 'issue.number': '7', 'issue.title': title, 'issue.body': '', 'issue.html_url': 'https://example.test/7', 'sender.login': 'ops' };
  const response = await api('/v1/templates/fix-issue/runs', { method: 'POST', body: JSON.stringify({ parameters }) });
  expect(response.status).toBe(201);
  const { runId } = (await response.json()) as { runId: string };
  const spec = await composition.service.spec(runId);
  expect(spec?.items).toHaveLength(1);
  expect(spec?.items[0]?.runtime).toMatchObject({ argv: ['/bin/echo', title, ''] });
  const missing = await api('/v1/templates/fix-issue/runs', { method: 'POST', body: JSON.stringify({ parameters: { 'issue.title': 'x' } }) });
  expect(missing.status).toBe(400);
  expect(await missing.json()).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringContaining('--param issue.number=...') });
  const broken = await api('/v1/templates/fix-issue/runs', {
    method: 'POST',
    body: JSON.stringify({ parameters: { ...parameters, 'issue.html_url': 'two\nlines' } }),
  });
  expect(broken.status).toBe(400);
  expect(await broken.json()).toMatchObject({
    path: '$.labels.issue',
    issues: [expect.objectContaining({ message: expect.stringContaining('parameter issue.html_url') })],
  });
});

test('cairn templates lists them; cairn run TEMPLATE --param submits one, and a breaking value is refused naming its parameter', async () => {
  const env = { CAIRN_TOKEN: operatorToken };
  const listed = await runCli(['templates', '--server', base], { env });
  expect(listed.stdout).toContain('fix-issue  Fix what an issue reports');
  expect(listed.stdout).toContain('--param issue.title=...  (required)');
  const params = ['issue.number=12', 'issue.title=Crash when = is in a title', 'issue.body=', 'issue.html_url=https://example.test/12', 'sender.login=ops'];
  const submitted = await runCli(['run', 'fix-issue', '--server', base, '-q', ...params.flatMap((param) => ['--param', param])], { env });
  expect(submitted).toMatchObject({ status: 0, stderr: '' });
  const spec = await composition.service.spec(submitted.stdout.trim());
  expect(spec?.name).toBe('issue #12: Crash when = is in a title');
  const refused = await runCli(
    ['run', 'fix-issue', '--server', base, ...params.flatMap((param) => ['--param', param.replace(/^issue\.html_url=.*/, 'issue.html_url=two\nlines')])],
    {
      env,
    },
  );
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toContain('$.labels.issue');
  expect(refused.stderr).toContain('parameter issue.html_url');
});

test("a signed delivery without a field GitHub's payloads always carry is refused naming the field and what GitHub sends there, not a Cairn version mismatch", async () => {
  const before = await submitted();
  const written = issueCommentCreated('/cairn run fix-issue', { login: 'hubot-writer' });
  const { user: _user, ...comment } = written.comment;
  const unchecked = 'a delivery missing a field GitHub always sends: what the server answers to it is the test';
  const response = await deliver(githubDelivery('issue_comment', { ...written, comment }, { secret: webhookSecret, unchecked }));
  expect(response.status).toBe(400);
  const refusal = (await response.json()) as { code: string; message: string; action: string; path: string };
  expect(refusal).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: '$.comment.user.login' });
  expect(refusal.message).toBe(
    'The issue_comment delivery has no comment.user.login (a string: the GitHub login of the person who wrote the comment), which every issue_comment payload GitHub sends carries.',
  );
  expect(refusal.action).toContain("GitHub's issue_comment payloads always carry comment.user.login");
  expect(refusal.action).toContain('Recent Deliveries');
  expect(refusal.action).not.toContain('compatible Cairn versions');

  const labelled = issueLabeled({ label: 'cairn:fix' });
  const { sender: _sender, ...withoutSender } = labelled;
  const unlabelled = await deliver(githubDelivery('issues', withoutSender, { secret: webhookSecret, unchecked }));
  expect(unlabelled.status).toBe(400);
  expect(await unlabelled.json()).toMatchObject({
    code: 'CAIRN_PAYLOAD_INVALID',
    path: '$.sender.login',
    action: expect.stringContaining("GitHub's issues payloads"),
  });
  expect(await submitted()).toBe(before);
});
