// What a delivery guards, through a real server (SQLite, directory storage, the local executor),
// real git (`git http-backend` on loopback) and the GitHub REST test endpoint: (1) a patch touching
// CI configuration (a forge's protectedPaths) is flagged in the pull request, in Item.delivery and
// in the attempt's audited output, or refused where the forge's config says so; (2) a delivered
// branch belongs to the run that delivered it: another submitter's run replaces it only with
// `takeOver` and the branches:take-over scope. One server and one pair of forges for the whole file.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '@cairn/core';
import { createCairnClient, type CairnClient } from '@cairn/client';
import { createGitHubForge } from '@cairn/github-forge';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { bareRepositoryOracle, git, startGitHttpServer, type GitHttpServer } from '../../../../../packages/git-forge/src/git-http-server.test-support.ts';
import { startGitHubApiServer, type GitHubApiServer } from '../../../../../packages/github-forge/src/github-api.test-support.ts';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { httpApiSettingsOf } from '../../http/http-api-settings.ts';
import { buildHttpApi } from '../../http/http-server.ts';

const token = `github_pat_${'e'.repeat(40)}`;
const readme = '# Demo\n\nA repository Cairn delivers to.\n';
let gitServer: GitHttpServer;
let api: GitHubApiServer;
let composition: ServerComposition;
let operator: CairnClient;
let baseUrl: string;
let close: () => Promise<void>;
let workspace: string;

beforeAll(async () => {
  gitServer = await startGitHttpServer({ username: 'x-access-token', password: token });
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  api = await startGitHubApiServer({ repositoryPath: (repository) => gitServer.path(repository), app: { id: 1, publicKey, installationId: 1 } });
  api.addToken(token, { write: true });
  for (const name of ['plain', 'guarded', 'cairn-test/app']) {
    await gitServer.createRepository(name);
    await bareRepositoryOracle(gitServer.path(name)).setBranch('main', await gitServer.commit(name, { 'README.md': readme }));
  }
  const directory = mkdtempSync(join(tmpdir(), 'cairn-guards-'));
  chmodSync(directory, 0o711);
  const { operatorToken, configFile } = await initServer(directory);
  const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  const forges = {
    // The default: protected paths are flagged.
    plain: { kind: 'git', remote: gitServer.url('plain'), tokenSecret: 'FORGE_TOKEN' },
    github: { kind: 'github', repository: 'cairn-test/app', tokenSecret: 'FORGE_TOKEN', apiUrl: api.url, gitUrl: gitServer.url('').replace(/\/\.git$/, '') },
    // Refused here: the default paths, and one of the operator's own.
    guarded: {
      kind: 'git',
      remote: gitServer.url('guarded'),
      tokenSecret: 'FORGE_TOKEN',
      protectedPaths: { action: 'refuse', paths: ['.github/workflows/**', 'deploy/*.sh'] },
    },
  };
  // A template whose deliver item takes its branch over: submitted through it, the submitter's scope is checked as for a spec of its own.
  const takeOver = {
    version: 1,
    name: 'templated',
    items: [fix('fix', 'templated.txt', 'templated'), ship('ship', 'fix', { forge: 'plain', branch: 'cairn/templated', takeOver: true })],
  };
  writeFileSync(join(directory, 'take-over.json'), JSON.stringify(takeOver));
  writeFileSync(configFile, stringifyYaml({ ...config, forges, templates: { 'take-over': { spec: './take-over.json' } } }));
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  composition = await composeServer(loaded);
  const app = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1', auth: 'tokens' });
  composition.start();
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  await composition.engine.setSecret('FORGE_TOKEN', token, { kind: 'user', id: 'admin', via: 'cli' });
  operator = createCairnClient({ baseUrl, token: operatorToken });
  workspace = join(directory, 'workspace');
  mkdirSync(workspace);
  writeFileSync(join(workspace, 'README.md'), readme);
  close = async () => {
    await app.close();
    await composition.close();
    removeWithMounts(directory);
  };
}, 60_000);

afterAll(async () => {
  await close?.();
  await api?.close();
  await gitServer?.close();
});

/** A command item writing `file` (its folders made) with `text`. */
const fix = (id: string, file: string, text: string) => ({
  id,
  runtime: { kind: 'command', argv: ['sh', '-c', `mkdir -p "$(dirname ${file})" && printf '%s\\n' "${text}" > ${file}`] },
});
/** A deliver item of `from`'s patch, with these runtime fields. */
const ship = (id: string, from: string, deliver: Record<string, unknown>) => ({
  id,
  runtime: { kind: 'deliver', from, base: 'main', title: 'Fix: {runId}', body: 'Closes #7.', ...deliver },
});

/** Submits these items over the workspace as `client` and runs them to the end: the run's state, and each item. */
async function run(client: CairnClient, items: readonly object[]) {
  const { runId } = await client.submit(JSON.stringify({ version: 1, name: 'guards', items }), { workspace });
  const { state } = await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) });
  const listed = await client.items(runId);
  const item = (itemId: string) => listed.find((candidate) => candidate.itemId === itemId)!;
  return { runId, state, item };
}

/** The output (parsed) and stdout the attempt's `attempt.completed` audit entry names: what the audit log holds of the delivery. */
async function audited(runId: string, itemId: string): Promise<{ output: Record<string, unknown>; stdout: string }> {
  for await (const entry of composition.service.auditEntries({ runId, action: 'attempt.completed' })) {
    const data = entry.data as { itemId?: string; artifacts?: Record<string, string> };
    const text = async (name: string) => Buffer.from(await operator.blob(data.artifacts![name] as Digest)).toString('utf8');
    if (data.itemId === itemId && data.artifacts?.['output'])
      return { output: JSON.parse(await text('output')) as Record<string, unknown>, stdout: await text('stdout') };
  }
  throw new Error(`no completed attempt of ${itemId} with an output`);
}

test(
  'a patch touching .github/workflows: flagged in the pull request, Item.delivery and the audited output; refused where protectedPaths.action is refuse, nothing pushed',
  { timeout: 120_000 },
  async () => {
    const flagged = await run(operator, [
      fix('ci', '.github/workflows/ci.yml', 'on: push'),
      ship('propose', 'ci', { forge: 'github', branch: 'cairn/ci-{runId}' }),
      ship('refused', 'ci', { forge: 'guarded', branch: 'cairn/ci-{runId}' }),
      fix('docs', 'docs/guide.md', 'a guide'),
      ship('allowed', 'docs', { forge: 'guarded', branch: 'cairn/docs-{runId}' }),
    ]);
    expect(flagged.item('propose').state, JSON.stringify(flagged.item('propose').failure)).toBe('succeeded');
    const delivery = flagged.item('propose').delivery!;
    expect(delivery.protectedPaths).toEqual(['.github/workflows/ci.yml']);
    const evidence = await audited(flagged.runId, 'propose');
    expect(evidence.output).toMatchObject({ protectedPaths: ['.github/workflows/ci.yml'] });
    expect(evidence.stdout).toContain('protected paths: ".github/workflows/ci.yml" (forges.github.protectedPaths flags them)');
    const reader = createGitHubForge({ repository: 'cairn-test/app', token, apiUrl: api.url, gitUrl: gitServer.url('').replace(/\/\.git$/, '') });
    const body = (await reader.readChangeRequest(delivery.changeRequest!.id))!.body;
    expect(body).toContain('### Protected paths');
    expect(body).toContain('- `.github/workflows/ci.yml`');
    expect(body).toContain('forges.github.protectedPaths');

    // The forge that refuses: the run fails at that item, naming the path and the option; the branch never existed.
    expect(flagged.state).toBe('failed');
    expect(flagged.item('refused').failure).toMatchObject({
      code: 'CAIRN_FORGE_PATH_PROTECTED',
      message: expect.stringMatching(/\.github\/workflows\/ci\.yml[\s\S]*forges\.guarded\.protectedPaths/),
    });
    expect(await git(gitServer.path('guarded'), ['branch', '--list', 'cairn/*'])).toBe(`  cairn/docs-${flagged.runId}\n`);
    // A patch touching no protected path is delivered there as anywhere, and flags nothing.
    expect(flagged.item('allowed').delivery).toMatchObject({ outcome: 'pushed' });
    expect(flagged.item('allowed').delivery).not.toHaveProperty('protectedPaths');
  },
);

test('an operator pattern of protectedPaths: deploy/*.sh is refused, deploy/tools/x.sh (not under *) is not', { timeout: 120_000 }, async () => {
  const delivered = await run(operator, [
    fix('script', 'deploy/release.sh', 'echo release'),
    ship('refused', 'script', { forge: 'guarded', branch: 'cairn/deploy-{runId}' }),
    fix('nested', 'deploy/tools/x.sh', 'echo tool'),
    ship('allowed', 'nested', { forge: 'guarded', branch: 'cairn/tools-{runId}' }),
  ]);
  expect(delivered.item('refused').failure).toMatchObject({ code: 'CAIRN_FORGE_PATH_PROTECTED', message: expect.stringContaining('deploy/release.sh') });
  expect(delivered.item('allowed').delivery).toMatchObject({ outcome: 'pushed' });
});

test(
  "a delivered branch belongs to its run: another submitter's run is refused (CAIRN_FORGE_CONFLICT), takeOver needs branches:take-over, and with both it replaces the branch",
  { timeout: 180_000 },
  async () => {
    const submitter = async (name: string, scopes: string[]) =>
      createCairnClient({ baseUrl, token: (await composition.tokens.create(name, ['runs:submit', 'runs:read', ...scopes])).token });
    const alice = await submitter('alice', []);
    const mallory = await submitter('mallory', []);
    const maintainer = await submitter('maintainer', ['branches:take-over']);
    const bare = gitServer.path('plain');
    const items = (text: string, deliver: Record<string, unknown> = {}) => [
      fix('fix', 'hello.txt', text),
      ship('ship', 'fix', { forge: 'plain', branch: 'cairn/shared', ...deliver }),
    ];

    const first = await run(alice, items('alice'));
    expect(first.state, JSON.stringify(first.item('ship').failure)).toBe('succeeded');
    const delivered = first.item('ship').delivery!.commit;

    const replaced = await run(mallory, items('mallory'));
    expect(replaced.state).toBe('failed');
    expect(replaced.item('ship').failure).toMatchObject({
      code: 'CAIRN_FORGE_CONFLICT',
      message: expect.stringMatching(new RegExp(`cairn/shared[\\s\\S]*${first.runId}[\\s\\S]*takeOver[\\s\\S]*branches:take-over`)),
    });
    expect((await git(bare, ['rev-parse', 'cairn/shared'])).trim()).toBe(delivered);

    // Saying takeOver is not enough: the submitter must hold the scope, checked before anything runs.
    await expect(
      mallory.submit(JSON.stringify({ version: 1, name: 'guards', items: items('mallory', { takeOver: true }) }), { workspace }),
    ).rejects.toMatchObject({
      code: 'CAIRN_FORBIDDEN',
      path: '$.items[1].runtime.takeOver',
      message: expect.stringContaining('branches:take-over'),
    });
    // Nor is spelling the key with an escape: the check reads the spec as the engine does.
    const escaped = JSON.stringify({ version: 1, name: 'guards', items: items('mallory', { takeOver: true }) }).replace('"takeOver"', '"take\\u004fver"');
    expect(escaped).toContain('take\\u004fver');
    // Sent as written (with no workspace to upload, the client does not rewrite the spec).
    await expect(mallory.submit(escaped)).rejects.toMatchObject({ code: 'CAIRN_FORBIDDEN', path: '$.items[1].runtime.takeOver' });
    expect((await git(bare, ['rev-parse', 'cairn/shared'])).trim()).toBe(delivered);

    const taken = await run(maintainer, items('maintainer', { takeOver: true }));
    expect(taken.state, JSON.stringify(taken.item('ship').failure)).toBe('succeeded');
    expect((await git(bare, ['rev-parse', 'cairn/shared'])).trim()).toBe(taken.item('ship').delivery!.commit);
    expect(await git(bare, ['show', 'cairn/shared:hello.txt'])).toBe('maintainer\n');
    // The branch is the taking run's now: the first run's submitter cannot replace it back.
    const back = await run(alice, items('alice again'));
    expect(back.item('ship').failure).toMatchObject({ code: 'CAIRN_FORGE_CONFLICT', message: expect.stringContaining(taken.runId) });
  },
);

test("a planner's deliver item cannot take a branch over when the submitted spec granted no takeOver", { timeout: 120_000 }, async () => {
  const owner = await run(operator, [fix('fix', 'planned.txt', 'owner'), ship('ship', 'fix', { forge: 'plain', branch: 'cairn/planned' })]);
  expect(owner.state).toBe('succeeded');
  const fragment = {
    items: [
      { id: 'fix', runtime: { kind: 'command', argv: ['sh', '-c', 'echo planned > planned.txt'] } },
      ship('ship', 'fix', { forge: 'plain', branch: 'cairn/planned', takeOver: true }),
    ],
  };
  const planned = await run(operator, [
    { id: 'plan', emits: { maxItems: 2 }, runtime: { kind: 'command', argv: ['sh', '-c', `printf '%s' '${JSON.stringify(fragment)}' > output.json`] } },
  ]);
  expect(planned.item('plan/ship').failure).toMatchObject({ code: 'CAIRN_FORGE_CONFLICT', message: expect.stringContaining('submitted spec') });
  expect((await git(gitServer.path('plain'), ['rev-parse', 'cairn/planned'])).trim()).toBe(owner.item('ship').delivery!.commit);
});

test(
  'a template whose deliver item says takeOver: refused to a submitter without branches:take-over, accepted from one with it',
  { timeout: 120_000 },
  async () => {
    const submit = async (scopes: string[]) => {
      const { token: submitter } = await composition.tokens.create(`templated-${scopes.length}`, ['runs:submit', 'runs:read', ...scopes]);
      const response = await fetch(`${baseUrl}/v1/templates/take-over/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${submitter}`, 'content-type': 'application/json' },
        body: JSON.stringify({ parameters: {} }),
      });
      return { status: response.status, body: (await response.json()) as { code?: string; path?: string; runId?: string } };
    };
    expect(await submit([])).toMatchObject({ status: 403, body: { code: 'CAIRN_FORBIDDEN', path: '$.items[1].runtime.takeOver' } });
    const accepted = await submit(['branches:take-over']);
    expect(accepted.status).toBe(201);
    expect((await operator.waitForRun(accepted.body.runId!, { signal: AbortSignal.timeout(60_000) })).state).toBe('succeeded');
  },
);
