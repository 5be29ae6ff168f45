// Deliver items through a real server (SQLite, directory storage, the local executor): a command
// item writes a file, and a deliver item pushes its patch (1) to a git remote served by `git
// http-backend` on loopback with basic auth, and (2) to the GitHub REST test endpoint's repository,
// where it opens a pull request. Both forges' test support is the forge packages' own. One server
// and one pair of forges for the whole file.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyProvenance } from '@cairn/audit';
import { createCairnClient, type CairnClient } from '@cairn/client';
import { createGitHubForge } from '@cairn/github-forge';
import { removeWithMounts } from '@cairn/local';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
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

const token = `github_pat_${'d'.repeat(40)}`;
const readme = '# Demo\n\nA repository Cairn delivers to.\n';
let gitServer: GitHttpServer;
let api: GitHubApiServer;
let composition: ServerComposition;
let client: CairnClient;
let close: () => Promise<void>;
let workspace: string;
let mainOfPlain: string;

beforeAll(async () => {
  gitServer = await startGitHttpServer({ username: 'x-access-token', password: token });
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  api = await startGitHubApiServer({ repositoryPath: (repository) => gitServer.path(repository), app: { id: 1, publicKey, installationId: 1 } });
  api.addToken(token, { write: true });
  // Two repositories with the same README on main: `plain` for the git forge, `cairn-test/app` for GitHub.
  for (const name of ['plain', 'cairn-test/app']) {
    await gitServer.createRepository(name);
    const seeded = await gitServer.commit(name, { 'README.md': readme });
    await bareRepositoryOracle(gitServer.path(name)).setBranch('main', seeded);
    if (name === 'plain') mainOfPlain = seeded;
  }
  // A branch whose README differs: the run's patch (made against the workspace's README) cannot apply there.
  await bareRepositoryOracle(gitServer.path('plain')).setBranch('other', await gitServer.commit('plain', { 'README.md': '# Another\n' }));

  const directory = mkdtempSync(join(tmpdir(), 'cairn-deliver-'));
  chmodSync(directory, 0o711);
  const { operatorToken, configFile } = await initServer(directory);
  const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  const forges = {
    plain: { kind: 'git', remote: gitServer.url('plain'), tokenSecret: 'FORGE_TOKEN' },
    github: { kind: 'github', repository: 'cairn-test/app', tokenSecret: 'FORGE_TOKEN', apiUrl: api.url, gitUrl: gitServer.url('').replace(/\/\.git$/, '') },
  };
  writeFileSync(
    configFile,
    stringifyYaml({
      ...config,
      forges,
      server: { ...(config['server'] as object), publicUrl: 'https://cairn.example.com' },
      // Runs may fetch their workspace from the served repositories by path.
      workspaces: { repositories: [`${gitServer.root}/`] },
    }),
  );
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  composition = await composeServer(loaded);
  const app = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1', auth: 'tokens' });
  composition.start();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  await composition.engine.setSecret('FORGE_TOKEN', token, { kind: 'user', id: 'admin', via: 'cli' });
  client = createCairnClient({ baseUrl: base, token: operatorToken });
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

/** A run whose command item writes `file` with `text`, then a deliver item with these runtime fields. */
function deliverySpec(file: string, text: string, deliver: Record<string, unknown>): string {
  return JSON.stringify({
    version: 1,
    name: 'deliver',
    items: [
      { id: 'fix', runtime: { kind: 'command', argv: ['sh', '-c', `printf '%s\\n' "${text}" > ${file}`] } },
      { id: 'ship', runtime: { kind: 'deliver', from: 'fix', base: 'main', title: 'Fix: {runId}', body: 'Closes #7.', ...deliver } },
    ],
  });
}

/** Verifies a provenance bundle with @sigstore/verify (the server's key as trust material, no transparency log), and its subject against the patch. */
function verifyWithSigstore(bytes: Uint8Array, patch: Uint8Array): void {
  const key = composition.signingKey;
  const bundle = bundleFromJSON(JSON.parse(Buffer.from(bytes).toString('utf8')));
  type Keys = Exclude<Parameters<typeof toTrustMaterial>[1], ((...args: never[]) => unknown) | undefined>;
  const keys = { [key.keyId]: { rawBytes: Buffer.from(key.publicKey, 'base64'), keyDetails: 0 } } as unknown as Keys;
  const root = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] } as unknown as Parameters<typeof toTrustMaterial>[0];
  new Verifier(toTrustMaterial(root, keys), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('no DSSE envelope');
  const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8')) as { subject: { digest: { sha256: string } }[] };
  expect(statement.subject[0]!.digest.sha256).toBe(createHash('sha256').update(patch).digest('hex'));
}

/** A command item writing `file` with `text`. */
const fix = (id: string, file: string, text: string) => ({ id, runtime: { kind: 'command', argv: ['sh', '-c', `printf '%s\\n' "${text}" > ${file}`] } });
/** A deliver item of `from`'s patch, with these runtime fields. */
const ship = (id: string, from: string, deliver: Record<string, unknown>) => ({
  id,
  runtime: { kind: 'deliver', from, base: 'main', title: 'Fix: {runId}', body: 'Closes #7.', ...deliver },
});

/** Runs these items over the workspace to the end: the run's state, and each item's delivery and failure. */
async function run(items: readonly object[]) {
  const { runId } = await client.submit(JSON.stringify({ version: 1, name: 'deliver', items }), { workspace });
  const { state } = await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) });
  const listed = await client.items(runId);
  const item = (itemId: string) => listed.find((candidate) => candidate.itemId === itemId)!;
  return { runId, state, item, delivery: (itemId: string) => item(itemId).delivery! };
}

test(
  'to the git remote and to GitHub at once: the commit on main with its trailers, a pull request whose body links the evidence and a comment with the provenance; a second run taking the branches over replaces the commit (no stack) and updates the same pull request',
  { timeout: 120_000 },
  async () => {
    // The second run takes over the first run's branches (the operator's token may).
    const items = (text: string, takeOver = false) => [
      fix('fix', 'hello.txt', text),
      ship('ship', 'fix', { forge: 'plain', branch: 'cairn/hello', ...(takeOver ? { takeOver } : {}) }),
      ship('propose', 'fix', { forge: 'github', branch: 'cairn/pr', ...(takeOver ? { takeOver } : {}) }),
    ];
    const first = await run(items('one'));
    expect(first.state, JSON.stringify([first.item('ship').failure, first.item('propose').failure])).toBe('succeeded');
    expect(first.delivery('ship')).toEqual({
      forge: 'plain',
      from: 'fix',
      branch: 'cairn/hello',
      base: 'main',
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
      outcome: 'pushed',
      provenance: { digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) },
    });
    const bare = gitServer.path('plain');
    const shown = await git(bare, ['log', '--format=%H %P%n%B%n--', 'main..cairn/hello']);
    expect(shown).toContain(
      `${first.delivery('ship').commit} ${mainOfPlain}\nFix: ${first.runId}\n\nCloses #7.\n\nDelivered by Cairn: the patch of item fix of run ${first.runId}.`,
    );
    expect(shown).toContain(`Cairn-Run: ${first.runId}\nCairn-Evidence: ${first.delivery('ship').provenance.digest}`);
    expect(await git(bare, ['show', 'cairn/hello:hello.txt'])).toBe('one\n');

    // The evidence the trailer names is the stored provenance of the patch the commit applies.
    const patch = new Uint8Array(Buffer.from(await client.patch(first.runId, 'fix')));
    const bundle = await client.blob(first.delivery('ship').provenance.digest);
    expect(verifyProvenance(bundle, { trustedKeys: [composition.signingKey], patch }).valid).toBe(true);
    verifyWithSigstore(bundle, patch);

    // GitHub: the pull request of the branch, its body linking the evidence under server.publicUrl.
    const proposed = first.delivery('propose');
    const changeRequest = proposed.changeRequest!;
    expect(changeRequest).toEqual({ id: expect.stringMatching(/^\d+$/), url: expect.any(String) });
    expect(proposed.provenance).toEqual(first.delivery('ship').provenance);
    const reader = createGitHubForge({ repository: 'cairn-test/app', token, apiUrl: api.url, gitUrl: gitServer.url('').replace(/\/\.git$/, '') });
    const opened = (await reader.readChangeRequest(changeRequest.id))!;
    expect(opened).toMatchObject({ title: `Fix: ${first.runId}`, branch: 'cairn/pr', target: 'main', state: 'open', head: proposed.commit });
    expect(opened.body).toMatch(/^Closes #7\.\n/);
    expect(opened.body).toContain(`https://cairn.example.com/v1/runs/${first.runId}/bundle`);
    expect(opened.body).toContain(`https://cairn.example.com/v1/blobs/${proposed.provenance.digest}`);
    expect(opened.body).toContain('| `fix` | succeeded |');
    expect(opened.body).toContain('**Spend:** No model calls.');
    const comments = api.comments('cairn-test/app', Number(changeRequest.id));
    expect(comments).toHaveLength(1);
    expect(comments[0]).toContain(Buffer.from(bundle).toString('utf8'));

    const second = await run(items('two', true));
    expect(second.delivery('ship')).toMatchObject({ outcome: 'pushed', branch: 'cairn/hello', tookOverFrom: first.runId });
    expect(second.delivery('ship').commit).not.toBe(first.delivery('ship').commit);
    expect(await git(bare, ['rev-list', 'main..cairn/hello'])).toBe(`${second.delivery('ship').commit}\n`);
    expect(await git(bare, ['show', 'cairn/hello:hello.txt'])).toBe('two\n');
    expect(second.delivery('propose')).toMatchObject({ outcome: 'pushed', changeRequest });
    const updated = (await reader.readChangeRequest(changeRequest.id))!;
    expect(updated).toMatchObject({ title: `Fix: ${second.runId}`, head: second.delivery('propose').commit, state: 'open' });
    expect(updated.body).toContain(`/v1/runs/${second.runId}/bundle`);
    expect(api.comments('cairn-test/app', Number(changeRequest.id))).toHaveLength(2);
  },
);

test(
  'a branch someone moved since the last delivery is left alone (CAIRN_FORGE_CONFLICT); a patch that does not apply is refused (CAIRN_FORGE_PATCH_INVALID)',
  { timeout: 120_000 },
  async () => {
    const bare = gitServer.path('plain');
    // A person pushes to the branch: a delivery leases the commit Cairn last pushed there (the first
    // test's, taken over here), or "must not exist" when it never pushed there; either way, not this one.
    const theirs = await gitServer.commit('plain', { 'README.md': readme, 'theirs.txt': 'a person pushed this\n' });
    await bareRepositoryOracle(bare).setBranch('cairn/hello', theirs);
    const refused = await run([
      fix('fix', 'hello.txt', 'again'),
      ship('ship', 'fix', { forge: 'plain', branch: 'cairn/hello', takeOver: true }),
      // A patch captured against a README the base (other) does not have.
      fix('rewrite', 'README.md', 'rewritten'),
      ship('ship-other', 'rewrite', { forge: 'plain', branch: 'cairn/other', base: 'other' }),
    ]);
    expect(refused.state).toBe('failed');
    // Refused by the lease, not by who owns the branch (the run may take it over).
    expect(refused.item('ship').failure).toMatchObject({ code: 'CAIRN_FORGE_CONFLICT', message: expect.not.stringContaining('belongs to the run') });
    expect((await git(bare, ['rev-parse', 'cairn/hello'])).trim()).toBe(theirs);
    expect(refused.item('ship-other').failure).toMatchObject({ code: 'CAIRN_FORGE_PATCH_INVALID', message: expect.stringContaining('README.md') });
    expect(await git(bare, ['branch', '--list', 'cairn/other'])).toBe('');
  },
);

test('a workspace fetched from the repository: the commit it was fetched at is the base, though main moved on since', { timeout: 120_000 }, async () => {
  const bare = gitServer.path('plain');
  const fetched = (await git(bare, ['rev-parse', 'main'])).trim();
  const spec = JSON.parse(deliverySpec('hello.txt', 'fetched', { forge: 'plain', branch: 'cairn/fetched' })) as Record<string, unknown> & {
    items: Record<string, unknown>[];
  };
  spec['workspace'] = { repository: bare, ref: 'main' };
  spec.items[1]!['approval'] = 'required';
  const { runId } = await client.submit(JSON.stringify(spec));
  const deadline = Date.now() + 60_000;
  while ((await client.items(runId)).find((item) => item.itemId === 'ship')!.state !== 'awaiting-approval') {
    if (Date.now() > deadline) throw new Error('ship never awaited approval');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Someone pushes to main after the run fetched it and before the delivery.
  await bareRepositoryOracle(bare).setBranch('main', await gitServer.commit('plain', { 'README.md': readme, 'later.txt': 'pushed later\n' }));
  await client.approve(runId, 'ship');
  expect((await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) })).state).toBe('succeeded');
  const delivery = (await client.items(runId)).find((item) => item.itemId === 'ship')!.delivery!;
  expect((await git(bare, ['rev-parse', `${delivery.commit}^`])).trim()).toBe(fetched);
  expect(await git(bare, ['ls-tree', '--name-only', delivery.commit])).toBe('README.md\nhello.txt\n');
});

test("a deliver item a planner added: delivered, and its Item.delivery shown as a spec's own", { timeout: 120_000 }, async () => {
  // The planner's fragment: a command item and a deliver item of its patch, namespaced under plan/
  // (no single quote in it: the planner's shell quotes it whole).
  const fragment = {
    items: [
      { id: 'fix', runtime: { kind: 'command', argv: ['sh', '-c', 'echo planned > planned.txt'] } },
      ship('ship', 'fix', { forge: 'plain', branch: 'cairn/planned' }),
    ],
  };
  const planned = await run([
    { id: 'plan', emits: { maxItems: 2 }, runtime: { kind: 'command', argv: ['sh', '-c', `printf '%s' '${JSON.stringify(fragment)}' > output.json`] } },
  ]);
  expect(planned.state, JSON.stringify([planned.item('plan'), planned.item('plan/fix')])).toBe('succeeded');
  const delivery = planned.delivery('plan/ship');
  expect(delivery).toMatchObject({ forge: 'plain', from: 'plan/fix', branch: 'cairn/planned', base: 'main', outcome: 'pushed' });
  expect((await git(gitServer.path('plain'), ['rev-parse', 'cairn/planned'])).trim()).toBe(delivery.commit);
  expect(await git(gitServer.path('plain'), ['show', 'cairn/planned:planned.txt'])).toBe('planned\n');
  expect(planned.item('plan/fix').delivery, 'only deliver items have one').toBeUndefined();
});

test('refused at submit, at the JSON path: a forge the server does not have, a from that is no item, emits on a deliver item', async () => {
  const refusal = async (deliver: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const spec = JSON.parse(deliverySpec('a.txt', 'a', { forge: 'plain', branch: 'b', ...deliver })) as { items: Record<string, unknown>[] };
    Object.assign(spec.items[1]!, extra);
    return client.submit(JSON.stringify(spec)).then(
      () => expect.unreachable('accepted'),
      (error: { code: string; path: string; message: string }) => ({ code: error.code, path: error.path, message: error.message }),
    );
  };
  expect(await refusal({ forge: 'gitlab' })).toMatchObject({
    code: 'CAIRN_RUN_SPEC_INVALID',
    path: '$.items[1].runtime.forge',
    message: expect.stringContaining('names no forge this server knows: "gitlab"; did you mean "github"? Known: plain, github.'),
  });
  expect(await refusal({ from: 'fixx' })).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[1].runtime.from' });
  expect(await refusal({}, { emits: { maxItems: 2 } })).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[1].emits' });
});
