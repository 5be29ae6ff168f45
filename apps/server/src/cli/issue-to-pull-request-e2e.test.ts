// From a labelled issue to a reviewed pull request, end to end, as docs/guides/from-an-issue-to-a-pull-request.md
// sets it up (its template and config sections, its shell blocks run as written with the built `cairn`):
// a webhook delivery signed as GitHub signs them → POST /v1/triggers/github → a run from the template
// → an agent item (openai-compatible, against a scripted Chat Completions endpoint through the model
// gateway) → a deliver item pushing to `git http-backend` on loopback and opening the pull request
// through the GitHub REST test endpoint, as a GitHub App installation. The commit's trailers name
// the run and the provenance; the provenance verifies with Cairn (in process and `cairn verify
// provenance` from the guide) and with @sigstore/verify, against the commit's own change; a
// changed commit or a changed attestation fails both.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyProvenance } from '@cairn/audit';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { verifyWithSigstore } from '../../../../packages/audit/src/provenance/sigstore-verifier.test-support.ts';
import { git, startGitHttpServer, type GitHttpServer } from '../../../../packages/git-forge/src/git-http-server.test-support.ts';
import { startGitHubApiServer, type GitHubApiServer } from '../../../../packages/github-forge/src/github-api.test-support.ts';
import { composeServer } from '../composition/compose-server.ts';
import type { ServerComposition } from '../composition/server-composition.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { startScriptedModels, type ScriptedModels } from '../capabilities/gateway/scripted-models.test-support.ts';
import { httpApiSettingsOf } from '../http/http-api-settings.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { githubDelivery, issueLabeled } from '../capabilities/triggers/github-deliveries.test-support.ts';
import { initServer } from './init-server.ts';

const repositoryRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const guide = readFileSync(join(repositoryRoot, 'docs/guides/from-an-issue-to-a-pull-request.md'), 'utf8');
/** The guide's fenced block titled `title`, or its shell blocks in order. */
const titled = (title: string) => new RegExp(`^\`\`\`\\w+ title="${title.replace(/[()]/g, '\\$&')}"\\n([\\s\\S]*?)^\`\`\``, 'm').exec(guide)?.[1];
const shellBlocks = [...guide.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1]!);

const triggerToken = 'github_pat_trigger_e2e';
const providerKey = 'sk-provider-e2e-91c';
const repository = 'acme/app';
const readme = '# app\n\nEvery committ is signed.\n';
const fixedReadme = '# app\n\nEvery commit is signed.\n';
// The app the guide's config names (App ID, installation id), with a key made for this file.
const app = { id: 123456, installationId: 7890123 };
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

let gitServer: GitHttpServer;
let github: GitHubApiServer;
let models: ScriptedModels;
let composition: ServerComposition;
let directory: string;
let base: string;
let operatorToken: string;
let close: () => Promise<void>;
/** The webhook's secret the guide's secrets block made (openssl rand). */
let webhookSecret: string;

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${operatorToken}`, ...(init.headers as Record<string, string> | undefined) } });

beforeAll(async () => {
  github = await startGitHubApiServer({ repositoryPath: (name) => gitServer.path(name), app: { ...app, publicKey } });
  gitServer = await startGitHttpServer({ username: 'x-access-token', password: 'unused', accepts: (_user, token) => github.knows(token) });
  // The repository: main holds a README with the typo the issue reports.
  await gitServer.createRepository(repository);
  const main = await gitServer.commit(repository, { 'README.md': readme });
  await git(gitServer.path(repository), ['update-ref', 'refs/heads/main', main]);
  github.addToken(triggerToken, { repositories: [repository] });
  github.setPermission(repository, 'Codertocat', 'admin');

  // The agent's model: it writes the fix, then says it is done.
  models = await startScriptedModels({
    chat: [
      {
        toolCalls: [{ name: 'write_file', input: { path: 'README.md', content: fixedReadme } }],
        usage: { inputTokens: 1_400, outputTokens: 120 },
      },
      { text: 'Fixed the spelling.', usage: { inputTokens: 1_600, outputTokens: 12 } },
    ],
  });

  directory = mkdtempSync(join(tmpdir(), 'cairn-issue-to-pr-'));
  chmodSync(directory, 0o711);
  mkdirSync(join(directory, 'templates'));
  const init = await initServer(directory);
  operatorToken = init.operatorToken;
  // The guide's sections as written, with GitHub's and the provider's addresses on loopback. The
  // template's workspace names the forge (`repository: github`): it is fetched with the App's
  // installation token, which the loopback git server accepts.
  writeFileSync(join(directory, 'templates', 'fix-issue.yaml'), titled('templates/fix-issue.yaml')!);
  const sections = titled('cairn.config.yaml (the sections added)')!
    .replaceAll('https://api.github.com', github.url)
    .replaceAll('https://github.com', gitServer.url('').replace(/\/\.git$/, ''))
    .replaceAll('https://api.openai.com/v1', models.baseUrls.openai);
  writeFileSync(
    init.configFile,
    stringifyYaml({
      ...(parseYaml(readFileSync(init.configFile, 'utf8')) as object),
      ...(parseYaml(sections) as object),
      workspaces: { repositories: [`${gitServer.root}/`] },
    }),
  );
  // The guide's secrets block as written, in the server's folder before it serves, from the files it names.
  writeFileSync(join(directory, 'cairn-app.private-key.pem'), privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
  writeFileSync(join(directory, 'github-token.txt'), triggerToken);
  writeFileSync(join(directory, 'openai-key.txt'), providerKey);
  const secrets = await runBlock(
    shellBlocks.find((block) => block.startsWith('cairn secret set GITHUB_APP_PRIVATE_KEY'))!,
    directory,
  );
  expect(secrets.status, secrets.output).toBe(0);
  webhookSecret = readFileSync(join(directory, 'webhook-secret.txt'), 'utf8').trim();
  expect(webhookSecret).toMatch(/^[0-9a-f]{64}$/);
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  composition = await composeServer(loaded);
  const http = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1', auth: 'tokens' });
  composition.start();
  base = await http.listen({ host: '127.0.0.1', port: 0 });
  close = async () => {
    await http.close();
    await composition.close();
    removeWithMounts(directory);
  };
}, 60_000);

afterAll(async () => {
  await close?.();
  await models?.close();
  await github?.close();
  await gitServer?.close();
});

/**
 * Runs a shell block of the guide as written (bash -euo pipefail) with the built `cairn` on PATH;
 * a child process, so that the server in this process keeps answering.
 */
function runBlock(block: string, cwd: string, env: Record<string, string> = {}): Promise<{ status: number | null; output: string }> {
  const path = [join(repositoryRoot, '.tools', 'bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':');
  const shell = spawn('bash', ['-euo', 'pipefail', '-c', block], {
    cwd,
    env: { HOME: cwd, LANG: 'C.UTF-8', PATH: path, GIT_CONFIG_NOSYSTEM: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  shell.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  shell.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return new Promise((resolve) => shell.on('close', (status) => resolve({ status, output })));
}

interface DeliveredItem {
  readonly itemId: string;
  readonly state: string;
  readonly delivery?: {
    forge: string;
    from: string;
    branch: string;
    base: string;
    commit: string;
    outcome: string;
    changeRequest?: { id: string; url: string };
    provenance: { digest: string };
  };
}

test(
  'a labelled issue becomes a pull request of one commit whose trailers name the run and its provenance; the provenance verifies against the commit with Cairn and @sigstore/verify, and a changed commit or attestation fails both',
  { timeout: 60_000 },
  async () => {
    // GitHub's delivery of "Codertocat labelled issue #1 cairn:fix", in acme/app.
    const delivered = await fetch(`${base}/v1/triggers/github`, githubDelivery('issues', issueOfAcme(), { secret: webhookSecret }));
    const answer = (await delivered.json()) as { runId: string; template: string };
    expect(delivered.status, JSON.stringify(answer)).toBe(201);
    expect(answer.template).toBe('fix-issue');
    const run = await composition.engine.waitForRun(answer.runId);
    const items = (await (await api(`/v1/runs/${answer.runId}/items`)).json()) as DeliveredItem[];
    expect(run.state, JSON.stringify(items)).toBe('succeeded');
    // The agent's call went through the gateway with the provider's key, and wrote the fix.
    expect(models.turns('chat').map((request) => request.headers['authorization'])).toEqual([`Bearer ${providerKey}`, `Bearer ${providerKey}`]);

    const delivery = items.find((item) => item.itemId === 'pull-request')!.delivery!;
    expect(delivery).toMatchObject({ forge: 'github', from: 'fix', branch: 'cairn/issue-1', base: 'main', outcome: 'pushed' });

    // The branch holds one commit on main, its trailers naming the run and the provenance.
    const bare = gitServer.path(repository);
    const mainTip = (await git(bare, ['rev-parse', 'refs/heads/main'])).trim();
    expect((await git(bare, ['rev-parse', 'refs/heads/cairn/issue-1'])).trim()).toBe(delivery.commit);
    expect((await git(bare, ['rev-list', '--parents', '-n', '1', delivery.commit])).trim()).toBe(`${delivery.commit} ${mainTip}`);
    const message = await git(bare, ['log', '-1', '--format=%B', delivery.commit]);
    expect(message).toMatch(/^Fix #1: Spelling error in the README file\n/);
    expect(message).toContain(`Cairn-Run: ${answer.runId}\n`);
    expect(message).toContain(`Cairn-Evidence: ${delivery.provenance.digest}\n`);

    // The pull request GitHub holds: opened by the app from that branch, its body linking the evidence.
    const pulls = (await (
      await fetch(`${github.url}/repos/${repository}/pulls?state=all`, { headers: { authorization: `token ${triggerToken}` } })
    ).json()) as { number: number; html_url: string; title: string; body: string; head: { ref: string; sha: string }; base: { ref: string } }[];
    expect(pulls.map((pull) => [pull.number, pull.head.ref, pull.base.ref, pull.head.sha])).toEqual([[1, 'cairn/issue-1', 'main', delivery.commit]]);
    expect(delivery.changeRequest).toEqual({ id: '1', url: pulls[0]!.html_url });
    expect(pulls[0]!.title).toBe('Fix #1: Spelling error in the README file');
    expect(pulls[0]!.body).toContain('Made by Cairn for https://github.com/acme/app/issues/1.');
    expect(pulls[0]!.body).toContain(`/v1/runs/${answer.runId}/bundle`);
    expect(pulls[0]!.body).toContain(delivery.provenance.digest);
    // As the app's installation (its JWT exchanged for a token), with the provenance commented on the pull request.
    expect(github.requests).toContain(`POST /app/installations/${app.installationId}/access_tokens`);
    expect(github.comments(repository, 1).join('\n')).toContain(`Cairn-Evidence: ${delivery.provenance.digest}`);

    // The guide's verification as written: the operator exports the key; a reviewer, in a clone,
    // fetches the branch, takes the provenance its commit names and checks it against the commit.
    const exported = await runBlock(
      shellBlocks.find((block) => block.startsWith('openssl pkey'))!,
      directory,
    );
    expect(exported.status, exported.output).toBe(0);
    const reviewer = mkdtempSync(join(tmpdir(), 'cairn-reviewer-'));
    try {
      const clone = join(reviewer, 'app');
      await git(reviewer, ['clone', '--quiet', bare, clone]);
      writeFileSync(join(clone, 'signing-key.pub.pem'), readFileSync(join(directory, 'signing-key.pub.pem')));
      const verifyBlock = shellBlocks.find((block) => block.startsWith('git fetch origin'))!;
      const env = { CAIRN_SERVER: base, CAIRN_TOKEN: operatorToken };
      const verified = await runBlock(verifyBlock, clone, env);
      expect(verified.status, verified.output).toBe(0);
      expect(verified.output).toMatch(/^valid: true$/m);
      expect(verified.output).toMatch(/pass +subject +the patch is the subject fix\.patch/);
      const provenance = new Uint8Array(readFileSync(join(clone, 'provenance.json')));
      const commitPatch = new Uint8Array(readFileSync(join(clone, 'commit.patch')));
      const trusted = [composition.signingKey];
      expect(verifyProvenance(provenance, { trustedKeys: trusted, patch: commitPatch })).toMatchObject({ valid: true });
      expect(verifyWithSigstore(provenance, trusted, commitPatch).subject).toMatch(/^[0-9a-f]{64}$/);

      // A commit changed after the run made it: its change is not the subject, for both verifiers and the guide's command.
      await git(clone, ['checkout', '--quiet', '--detach', delivery.commit]);
      writeFileSync(join(clone, 'README.md'), `${fixedReadme}One line more, after the run.\n`);
      await git(clone, ['commit', '--quiet', '--amend', '--all', '--no-edit']);
      await git(clone, ['push', '--quiet', '--force', 'origin', 'HEAD:refs/heads/cairn/issue-1']);
      const refused = await runBlock(verifyBlock, clone, env);
      expect(refused.status, refused.output).toBe(1);
      expect(refused.output).toMatch(/fail +subject/);
      const tamperedPatch = new Uint8Array(readFileSync(join(clone, 'commit.patch')));
      expect(checksOf(verifyProvenance(provenance, { trustedKeys: trusted, patch: tamperedPatch }))).toMatchObject({ signature: 'pass', subject: 'fail' });
      expect(() => verifyWithSigstore(provenance, trusted, tamperedPatch)).toThrow(/subject mismatch/);

      // A changed attestation: a statement naming another run, under the same signature.
      const bundle = JSON.parse(Buffer.from(provenance).toString('utf8')) as { dsseEnvelope: { payload: string } };
      const statement = Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8');
      expect(statement).toContain(answer.runId);
      bundle.dsseEnvelope.payload = Buffer.from(statement.replaceAll(answer.runId, 'r-someone-else')).toString('base64');
      const forged = new TextEncoder().encode(JSON.stringify(bundle));
      expect(checksOf(verifyProvenance(forged, { trustedKeys: trusted, patch: commitPatch }))).toMatchObject({ signature: 'fail' });
      expect(() => verifyWithSigstore(forged, trusted, commitPatch)).toThrow();
    } finally {
      removeWithMounts(reviewer);
    }
  },
);

const checksOf = (report: ReturnType<typeof verifyProvenance>) => Object.fromEntries(report.checks.map((check) => [check.name, check.status]));

/** GitHub's documented `issues` `labeled` payload, its issue in acme/app. */
function issueOfAcme() {
  const payload = issueLabeled({ label: 'cairn:fix' });
  const owner = { ...payload.repository.owner, login: 'acme', type: 'Organization' };
  return {
    ...payload,
    issue: { ...payload.issue, html_url: `https://github.com/${repository}/issues/1`, url: `https://api.github.com/repos/${repository}/issues/1` },
    repository: { ...payload.repository, name: 'app', full_name: repository, owner, html_url: `https://github.com/${repository}` },
  };
}
