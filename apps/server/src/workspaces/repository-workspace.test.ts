// A run over a workspace the server fetched from a git repository, end to end through a real
// server (SQLite, directory storage, the local executor, bubblewrap where the machine has it) and
// real git: the item sees a checkout with history (`git log` works in the sandbox), the run names
// the commit in its view and in its submission's audit entry, and its patch applies on that commit.
// A GitHub forge signing in as an app fetches with an installation token the GitHub REST test
// endpoint issued, which the loopback git server accepts. The refusals come back from POST /v1/runs
// with nothing run. The run is the guide's example
// (docs/guides/workspace-from-a-repository.md), over the served repository instead of its URL.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { verifyBundle } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import type { RunSpecV1 } from '@cairn/core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { git, startGitHttpServer, type GitHttpServer } from '../../../../packages/git-forge/src/git-http-server.test-support.ts';
import { startGitHubApiServer, type GitHubApiServer } from '../../../../packages/github-forge/src/github-api.test-support.ts';
import { parse as parseYaml } from 'yaml';
import { guideExample } from '../http/guide-example.test-support.ts';
import { runningServers } from '../http/running-server.test-support.ts';
import { serveNotesHistory } from './served-history.test-support.ts';

const start = runningServers();
const guide = guideExample('workspace-from-a-repository.md', '');
let forge: GitHttpServer;
/** The loopback git server's password: the token of the server's forge `origin`, in a server secret. */
const forgeToken = 'origin-token-3b9e1f';
let scratch: string;
/** GitHub's REST API on loopback: it issues the installation tokens of the app below, which the git server then accepts. */
let github: GitHubApiServer;
const app = { id: 4242, installationId: 77 };
// 2048-bit like a GitHub App's key; one per file (about 0.1 s). The other is an app GitHub does not know.
const appKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const strangerKey = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
/** The commits of `main`, newest first. */
let commits: string[];

beforeAll(async () => {
  forge = await startGitHttpServer({ username: 'cairn', password: forgeToken, accepts: (_username, token) => github.knows(token) });
  github = await startGitHubApiServer({ repositoryPath: (repository) => forge.path(repository), app: { ...app, publicKey: appKey.publicKey } });
  scratch = mkdtempSync(join(tmpdir(), 'cairn-repository-workspace-'));
  commits = await serveNotesHistory(forge, scratch);
  // The same history as the GitHub repository cairn-test/app, fetched through the app's installation.
  await forge.createRepository('cairn-test/app');
  await git(join(scratch, 'work'), ['push', '--quiet', forge.path('cairn-test/app'), 'main']);
});
afterAll(async () => {
  await github.close();
  await forge.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A run over `workspace`, for the refusals. */
const spec = (workspace: Record<string, unknown>): RunSpecV1 => ({
  version: 1,
  name: 'refused',
  workspace,
  items: [{ id: 'nothing', runtime: { kind: 'command', argv: ['true'] } }],
});

test(
  "a run over a repository's branch, by path, through a forge's token and through a GitHub App's installation token, and at a schedule's slots: the item's git log shows its history, the run names the commit, its patch applies on it; refusals run nothing, a slot's failed fetch is audited",
  { timeout: 90_000 },
  async () => {
    // The guide's settings, with the served repositories' folder as a mirror on this machine, and
    // the loopback git server as the forge `origin`, its token in a server secret.
    const settings = parseYaml(guide.blocks('yaml').find((block) => block.startsWith('workspaces:'))!) as { workspaces: Record<string, unknown> };
    expect(settings.workspaces).toMatchObject({ history: 50, fetchTimeout: '5m' });
    const { base, operatorToken, api, composition } = await start('tokens', {
      config: {
        workspaces: { ...settings.workspaces, repositories: [`${forge.root}/`, 'http://127.0.0.1:'] },
        forges: {
          origin: { kind: 'git', remote: forge.url('app'), username: 'cairn', tokenSecret: 'ORIGIN_TOKEN' },
          // GitHub forges signing in as a GitHub App: this one's, and one GitHub does not know.
          ...Object.fromEntries(
            ['hub', 'stranger'].map((name) => [
              name,
              {
                kind: 'github',
                repository: 'cairn-test/app',
                app: { appId: app.id, installationId: app.installationId, privateKeySecret: `${name.toUpperCase()}_KEY` },
                apiUrl: github.url,
                gitUrl: forge.url('').replace(/\/\.git$/, ''),
              },
            ]),
          ),
        },
      },
    });
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const guideSpec = guide.spec('from-a-repository').replace('https://git.example.com/team/app.git', forge.path('app'));
    expect(guideSpec).toContain(`repository: ${forge.path('app')}`);
    const { runId } = await client.submit(guideSpec);
    const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) });
    expect(run.state, JSON.stringify(await client.items(runId))).toBe('succeeded');
    const fetched = { repository: forge.path('app'), ref: 'main', commit: commits[0] };
    expect((await client.run(runId)).workspace).toMatchObject(fetched);
    const snapshot = (await client.run(runId)).workspace!.snapshot;
    expect(snapshot).toMatch(/^sha256:[0-9a-f]{64}$/);
    const submitted = [];
    for await (const entry of composition.service.auditEntries({ runId, action: 'run.submitted' })) submitted.push(entry);
    expect(submitted.map((entry) => entry.data['workspace'])).toEqual([{ ...fetched, snapshot }]);
    // The run's evidence bundle verifies, and its first entry names the commit: a verifier reads it
    // there, without the server.
    const bundle = await (await api(`/v1/runs/${runId}/bundle`)).text();
    const report = await verifyBundle(new TextEncoder().encode(bundle), {
      trustedKeys: [composition.signingKey],
      readAnchor: (receipt) => composition.anchors[0]!.read(receipt),
    });
    expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true });
    const [first] = (JSON.parse(bundle) as { entries: { action: string; data: Record<string, unknown> }[] }).entries;
    expect(first).toMatchObject({ action: 'run.submitted', data: { workspace: { ...fetched, snapshot } } });

    // git log in the sandbox lists the fetched commits, newest first, under the worker's own
    // commit of the snapshot (the baseline its patches are taken against).
    const patch = await client.patch(runId, 'recent-changes');
    expect(patch).toContain('+++ b/RECENT-CHANGES.txt\n@@ -0,0 +1,4 @@\n+cairn: the workspace snapshot\n+version 3\n+version 2\n+version 1\n');
    const checkout = join(scratch, 'checkout');
    execFileSync('git', ['clone', '--quiet', '--no-checkout', forge.path('app'), checkout], { env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' } });
    execFileSync('git', ['-C', checkout, 'checkout', '--quiet', '--detach', commits[0]!]);
    execFileSync('git', ['-C', checkout, 'apply', '--index'], { input: patch });
    expect(readFileSync(join(checkout, 'RECENT-CHANGES.txt'), 'utf8')).toContain('version 3\n');

    const refused = async (workspace: Record<string, unknown>) => {
      const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec(workspace)) });
      return { status: response.status, body: (await response.json()) as { code: string; message: string; path?: string } };
    };

    // A forge of the config by name: fetched over HTTP with its token (basic auth), once its secret is set.
    expect(await refused({ repository: 'origin', ref: 'main' })).toMatchObject({
      status: 422,
      body: { code: 'CAIRN_SECRET_UNAVAILABLE', path: 'config.forges.origin.tokenSecret' },
    });
    await client.setSecret('ORIGIN_TOKEN', forgeToken);
    const throughForge = await client.submit(spec({ repository: 'origin', ref: 'main' }));
    expect((await client.waitForRun(throughForge.runId, { signal: AbortSignal.timeout(60_000) })).state).toBe('succeeded');
    expect((await client.run(throughForge.runId)).workspace).toEqual({ repository: 'origin', ref: 'main', commit: commits[0], snapshot });
    const unknownForge = await refused({ repository: 'nowhere', ref: 'main' });
    expect(unknownForge).toMatchObject({ status: 400, body: { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.workspace.repository' } });
    expect(unknownForge.body.message).toContain('(forges: has origin, hub, stranger)');

    // A GitHub forge signing in as an app: fetched with an installation token GitHub issued for it
    // (the one its deliveries push with), which neither the run nor its audit entry holds.
    await client.setSecret('HUB_KEY', appKey.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
    const throughApp = await client.submit(spec({ repository: 'hub', ref: 'main' }));
    expect((await client.waitForRun(throughApp.runId, { signal: AbortSignal.timeout(60_000) })).state).toBe('succeeded');
    expect((await client.run(throughApp.runId)).workspace).toEqual({ repository: 'hub', ref: 'main', commit: commits[0], snapshot });
    expect(github.requests).toContain(`POST /app/installations/${app.installationId}/access_tokens`);
    await client.setSecret('STRANGER_KEY', strangerKey);
    const stranger = await refused({ repository: 'stranger', ref: 'main' });
    expect(stranger, JSON.stringify(stranger)).toMatchObject({ status: 502, body: { code: 'CAIRN_FORGE_UNAUTHORIZED', path: '$.workspace.repository' } });
    expect(stranger.body.message).toMatch(/names the forge stranger.*installation token.*401/);
    expect(stranger.body.message).not.toContain('PRIVATE KEY');

    expect(await refused({ repository: forge.path('app'), ref: 'no-such-branch' })).toMatchObject({
      status: 400,
      body: { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.workspace.ref' },
    });
    // Served with basic auth, and named by its URL: the forge's token is not lent to it.
    expect(await refused({ repository: forge.url('app'), ref: 'main' })).toMatchObject({
      status: 502,
      body: { code: 'CAIRN_FORGE_UNAUTHORIZED', path: '$.workspace.repository' },
    });
    expect(await refused({ repository: 'http://127.0.0.1:9/nothing.git', ref: 'main' })).toMatchObject({
      status: 503,
      body: { code: 'CAIRN_FORGE_UNAVAILABLE', path: '$.workspace.repository' },
    });
    // Not among workspaces.repositories, also when a path leads out of a listed folder.
    for (const repository of ['https://git.example.invalid/org/repo.git', `${forge.root}/../${basename(scratch)}/work`]) {
      const elsewhere = await refused({ repository, ref: 'main' });
      expect(elsewhere, repository).toMatchObject({ status: 400, body: { code: 'CAIRN_RUN_SPEC_INVALID', path: '$.workspace.repository' } });
      expect(elsewhere.body.message).toContain('workspaces.repositories');
    }
    // Not a URL the server fetches at all, credentials in it, a commit the submitter claims.
    for (const [workspace, path] of [
      [{ repository: 'ftp://git.example.com/repo.git', ref: 'main' }, '$.workspace.repository'],
      [{ repository: 'https://user:secret@git.example.com/repo.git', ref: 'main' }, '$.workspace.repository'],
      [{ repository: forge.path('app'), ref: '--upload-pack=touch /tmp/x' }, '$.workspace.ref'],
      [{ repository: forge.path('app'), ref: 'main', commit: commits[1], snapshot }, '$.workspace.commit'],
    ] as const) {
      const answer = await refused(workspace);
      expect(answer, JSON.stringify(answer)).toMatchObject({ status: 400, body: { code: 'CAIRN_RUN_SPEC_INVALID' } });
      expect(JSON.stringify(answer.body), JSON.stringify(answer)).toContain(path);
      expect(answer.body.message).not.toContain('secret@');
    }
    expect((await client.runs()).runs.map((listed) => listed.runId).sort()).toEqual([runId, throughForge.runId, throughApp.runId].sort());

    // A schedule's slots fetch when due (every second here): a slot's run names the commit its
    // fetch found; a slot whose fetch fails is audited as the schedule's failed slot, with no run.
    const schedule = (scheduleId: string, workspace: Record<string, unknown>) =>
      api('/v1/schedules', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ scheduleId, cron: '* * * * * *', spec: spec(workspace) }),
      });
    // Checked when added, as a submit is: not among workspaces.repositories.
    const outside = await schedule('outside', { repository: 'https://git.example.invalid/org/repo.git', ref: 'main' });
    expect(outside.status).toBe(400);
    expect(await outside.json()).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.workspace.repository' });
    expect((await schedule('nightly', { repository: 'origin', ref: 'main' })).status).toBe(201);
    expect((await schedule('broken', { repository: forge.path('app'), ref: 'no-such-branch' })).status).toBe(201);
    const deadline = Date.now() + 30_000;
    const slotRun = async () => (await client.runs()).runs.find((listed) => listed.runId.startsWith('nightly@') && listed.state === 'succeeded');
    const failedSlot = async () => {
      for await (const entry of composition.service.auditEntries({ action: 'schedule.fired' }))
        if (entry.entity.id === 'broken' && entry.outcome === 'failure') return entry;
      return undefined;
    };
    while ((await slotRun()) === undefined || (await failedSlot()) === undefined) {
      if (Date.now() > deadline) throw new Error(`no slot ran: ${JSON.stringify((await client.runs()).runs.map((listed) => [listed.runId, listed.state]))}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (const scheduleId of ['nightly', 'broken']) expect((await api(`/v1/schedules/${scheduleId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await client.run((await slotRun())!.runId)).workspace).toEqual({ repository: 'origin', ref: 'main', commit: commits[0], snapshot });
    expect((await failedSlot())!.data).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', message: expect.stringContaining('no-such-branch') });
    expect((await client.runs()).runs.filter((listed) => listed.runId.startsWith('broken@'))).toEqual([]);
  },
);
