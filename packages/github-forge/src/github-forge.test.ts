import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import type { ForgeBranchPush } from '@cairn/core';
import { describeForge } from '@cairn/conformance';
import { isCairnError } from '@cairn/protocol';
import { bareRepositoryOracle, git, startGitHttpServer } from '../../git-forge/src/git-http-server.test-support.ts';
import { startGitHubApiServer } from './github-api.test-support.ts';
import type { GitHubForgeSettings } from './github-forge-settings.ts';
import { createGitHubForge, type GitHubForge } from './github-forge.ts';

const owner = 'cairn-test';
const personalToken = `github_pat_${'p'.repeat(40)}`;
const evidence = `sha256:${'ab'.repeat(32)}` as const;
const app = { id: 4242, installationId: 77 };
// 2048-bit like a GitHub App's key; generated once per file (about 0.1 s).
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKeyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

const gitServer = await startGitHttpServer({ username: 'x-access-token', password: personalToken, accepts: (_user, token) => api.knows(token) });
const api = await startGitHubApiServer({ repositoryPath: (repository) => gitServer.path(repository), app: { ...app, publicKey } });
api.addToken(personalToken, { write: true });
afterAll(async () => {
  await api.close();
  await gitServer.close();
});

let repositories = 0;
const repositoryOf = new WeakMap<GitHubForge, string>();

/** A new empty repository `cairn-test/repository-<n>` on both servers, and a forge on it. */
async function forgeOnNewRepository(auth: Partial<GitHubForgeSettings> = { token: personalToken }): Promise<{ forge: GitHubForge; repository: string }> {
  repositories += 1;
  const repository = `${owner}/repository-${repositories}`;
  await gitServer.createRepository(repository);
  const forge = createGitHubForge({ repository, apiUrl: api.url, gitUrl: gitServer.url('').replace(/\/\.git$/, ''), ...auth });
  repositoryOf.set(forge, repository);
  return { forge, repository };
}

const appAuth = { app: { appId: app.id, privateKey: privateKeyPem, installationId: app.installationId } };

/** A commit of the user's history (`main` points at the first one, as a repository's default branch does). */
async function createBase(repository: string, files: Readonly<Record<string, string>>): Promise<string> {
  const commit = await gitServer.commit(repository, files);
  await git(gitServer.path(repository), ['update-ref', 'refs/heads/main', commit, '']).catch(() => undefined);
  return commit;
}

function delivery(base: string, overrides: Partial<ForgeBranchPush> = {}): ForgeBranchPush {
  return {
    branch: 'cairn/delivered',
    base,
    patch: Buffer.from(
      ['diff --git a/notes.txt b/notes.txt', 'new file mode 100644', '--- /dev/null', '+++ b/notes.txt', '@@ -0,0 +1 @@', '+notes', ''].join('\n'),
    ),
    message: 'Deliver a run',
    runId: 'run-github-1',
    evidenceDigest: evidence,
    ...overrides,
  };
}

/** The error `call` rejects with, its text as it would be logged or sent (message, JSON, inspected with its cause). */
async function failure(call: () => Promise<unknown>): Promise<{ error: unknown; text: string }> {
  const error = await call().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, 'the call failed').toBeDefined();
  return { error, text: `${String(error)} ${JSON.stringify(error)} ${inspect(error, { depth: 8 })}` };
}

// The whole contract, change requests included, through a GitHub App installation: every forge
// signs its JWT, exchanges it for an installation token, pushes with it over HTTP and calls the API.
describeForge({
  name: 'GitHub (a GitHub App installation; git http-backend and the REST test endpoint on loopback)',
  create: async () => (await forgeOnNewRepository(appAuth)).forge,
  createBase: (forge, files) => createBase(repositoryOf.get(forge)!, files),
  oracle: (forge) => bareRepositoryOracle(gitServer.path(repositoryOf.get(forge)!)),
  timeoutMs: 20_000,
});

describe('GitHub forge', () => {
  test('with a personal token: the pull request GitHub holds follows the branch, its merge and closing are read back, comments land on it', async () => {
    const { forge, repository } = await forgeOnNewRepository();
    const base = await createBase(repository, { 'README.md': 'hello\n' });
    const pushed = await forge.pushBranch(delivery(base));
    const opened = await forge.openChangeRequest({ branch: pushed.branch, target: 'main', title: 'Deliver a run', body: `Evidence: ${evidence}` });
    expect(opened).toEqual({
      id: opened.id,
      url: `${api.url}/${repository}/pull/${opened.id}`,
      branch: 'cairn/delivered',
      target: 'main',
      title: 'Deliver a run',
      body: `Evidence: ${evidence}`,
      state: 'open',
      head: pushed.commit,
    });
    const comment = await forge.commentOnChangeRequest(opened.id, 'Verified offline.');
    expect(comment.url).toContain(`/pull/${opened.id}#issuecomment-${comment.id}`);
    expect(api.comments(repository, Number(opened.id))).toEqual(['Verified offline.']);
    await api.closePull(repository, Number(opened.id), true);
    expect((await forge.readChangeRequest(opened.id))?.state).toBe('merged');

    // A merged pull request is not open: delivering again opens a new one.
    const again = await forge.pushBranch(delivery(base, { runId: 'run-github-2', expectedTip: pushed.commit }));
    const reopened = await forge.openChangeRequest({ branch: again.branch, target: 'main', title: 'Deliver again', body: '' });
    expect(reopened.id).not.toBe(opened.id);
    await api.closePull(repository, Number(reopened.id), false);
    expect(await forge.readChangeRequest(reopened.id)).toMatchObject({ state: 'closed', head: again.commit });
  });

  test('two concurrent openings for one branch leave one pull request (the loser of the race updates the winner’s)', async () => {
    const { forge, repository } = await forgeOnNewRepository();
    const base = await createBase(repository, { 'README.md': 'hello\n' });
    await forge.pushBranch(delivery(base));
    const [left, right] = await Promise.all([
      forge.openChangeRequest({ branch: 'cairn/delivered', target: 'main', title: 'Left', body: 'left' }),
      forge.openChangeRequest({ branch: 'cairn/delivered', target: 'main', title: 'Right', body: 'right' }),
    ]);
    expect(left.id).toBe(right.id);
    expect(api.requests.filter((request) => request === `POST /repos/${repository}/pulls`).length, 'both tried to create').toBe(2);
  });

  test('refused credentials are CAIRN_FORGE_UNAUTHORIZED for git and the API, naming the repository and never the token', async () => {
    const { repository } = await forgeOnNewRepository();
    const base = await createBase(repository, { 'README.md': 'hello\n' });
    const wrongToken = `github_pat_${'w'.repeat(40)}`;
    const wrong = createGitHubForge({ repository, apiUrl: api.url, gitUrl: gitServer.url('').replace(/\/\.git$/, ''), token: wrongToken });
    for (const call of [() => wrong.pushBranch(delivery(base)), () => wrong.openChangeRequest({ branch: 'cairn/x', target: 'main', title: 'x', body: '' })]) {
      const { error, text } = await failure(call);
      expect(isCairnError(error, 'CAIRN_FORGE_UNAUTHORIZED'), text).toBe(true);
      expect(text).toContain('github-forge');
      expect(text).not.toContain(wrongToken);
    }

    const readOnlyToken = `github_pat_${'r'.repeat(40)}`;
    api.addToken(readOnlyToken);
    const readOnly = (await forgeOnNewRepository({ token: readOnlyToken })).forge;
    const refused = await failure(() => readOnly.commentOnChangeRequest('1', 'hello'));
    expect(isCairnError(refused.error, 'CAIRN_FORGE_UNAUTHORIZED'), refused.text).toBe(true);
    expect(refused.text).toMatch(/403: Resource not accessible by personal access token.*may write contents, pull requests and issues/);

    const otherToken = `github_pat_${'o'.repeat(40)}`;
    api.addToken(otherToken, { write: true, repositories: ['cairn-test/somewhere-else'] });
    const hidden = (await forgeOnNewRepository({ token: otherToken })).forge;
    const missing = await failure(() => hidden.readChangeRequest('1'));
    expect(isCairnError(missing.error, 'CAIRN_FORGE_UNAUTHORIZED'), 'a repository hidden behind 404 is not a missing pull request').toBe(true);
    expect(missing.text).toContain('that these credentials can see');

    const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const foreignApp = (
      await forgeOnNewRepository({
        app: { appId: app.id, privateKey: otherKey.export({ type: 'pkcs1', format: 'pem' }).toString(), installationId: app.installationId },
      })
    ).forge;
    const unsigned = await failure(() => foreignApp.readBranch('main'));
    expect(isCairnError(unsigned.error, 'CAIRN_FORGE_UNAUTHORIZED'), unsigned.text).toBe(true);
    expect(unsigned.text).toMatch(/installation token.*401: A JSON web token could not be decoded/);
    expect(unsigned.text).not.toContain('PRIVATE KEY');
  });

  test('a failing or unreachable GitHub is CAIRN_FORGE_UNAVAILABLE; a target branch GitHub does not have is CAIRN_FORGE_REQUEST_INVALID; unknown ids', async () => {
    const { forge, repository } = await forgeOnNewRepository();
    const base = await createBase(repository, { 'README.md': 'hello\n' });
    await forge.pushBranch(delivery(base));
    api.failNext(502);
    await expect(forge.readChangeRequest('1')).rejects.toMatchObject({ code: 'CAIRN_FORGE_UNAVAILABLE', message: expect.stringContaining('502') });
    const invalid = await failure(() => forge.openChangeRequest({ branch: 'cairn/delivered', target: 'no-such-base', title: 'x', body: '' }));
    expect(isCairnError(invalid.error, 'CAIRN_FORGE_REQUEST_INVALID'), invalid.text).toBe(true);
    expect(invalid.text).toContain('422: Validation Failed: base invalid');
    await expect(forge.commentOnChangeRequest('999', 'hello'), 'a number with no pull request').rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND' });
    expect(await forge.readChangeRequest('999')).toBeNull();

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = createGitHubForge({ repository, apiUrl: `http://127.0.0.1:${port}`, token: personalToken });
    const down = await failure(() => unreachable.readChangeRequest('1'));
    expect(isCairnError(down.error, 'CAIRN_FORGE_UNAVAILABLE'), down.text).toBe(true);
    expect(down.text).not.toContain(personalToken);
  });

  test('readPermission: a person’s permission on the repository (maintain counts as write, triage as read; an unknown user has none)', async () => {
    const { forge, repository } = await forgeOnNewRepository();
    for (const [user, permission] of [
      ['alice', 'admin'],
      ['bob', 'maintain'],
      ['carol', 'triage'],
      ['dave', 'none'],
    ])
      api.setPermission(repository, user!, permission!);
    expect(await Promise.all(['alice', 'bob', 'carol', 'dave', 'nobody'].map((user) => forge.readPermission(user)))).toEqual([
      'admin',
      'write',
      'read',
      'none',
      'none',
    ]);
    await expect(forge.readPermission('not a login')).rejects.toMatchObject({ code: 'CAIRN_FORGE_REQUEST_INVALID' });
  });

  test('gitAccess: the remote and the token git fetches with: the personal one, or an installation token of the app (also refused as UNAUTHORIZED)', async () => {
    const { forge, repository } = await forgeOnNewRepository(appAuth);
    const remote = `${gitServer.url('').replace(/\/\.git$/, '')}/${repository}.git`;
    const access = await forge.gitAccess();
    expect(access).toMatchObject({ remote, username: 'x-access-token' });
    expect(api.knows(access.token), 'an installation token the endpoint issued').toBe(true);
    expect(access.token).not.toBe(personalToken);
    const personal = (await forgeOnNewRepository()).forge;
    expect((await personal.gitAccess()).token).toBe(personalToken);
    const { privateKey: otherKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const foreignApp = (
      await forgeOnNewRepository({
        app: { appId: app.id, privateKey: otherKey.export({ type: 'pkcs1', format: 'pem' }).toString(), installationId: app.installationId },
      })
    ).forge;
    const refused = await failure(() => foreignApp.gitAccess());
    expect(isCairnError(refused.error, 'CAIRN_FORGE_UNAUTHORIZED'), refused.text).toBe(true);
    expect(refused.text).toMatch(/installation token for fetching the repository.*401/);
  });

  test('settings: a repository as owner/name, exactly one of token and app, https URLs (http only on loopback)', () => {
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ repository: 'no-slash', token: 't' }, /"github-forge.repository" must be owner\/name/],
      [{ repository: 'o/r' }, /"github-forge.token" give exactly one of `token`/],
      [{ repository: 'o/r', token: 't', ...appAuth }, /"github-forge.token" give exactly one of `token`/],
      [{ repository: 'o/r', token: 't', apiUrl: 'http://api.example.com' }, /"github-forge.apiUrl" must be https:\/\//],
      [{ repository: 'o/r', token: 't', gitUrl: 'https://user:pw@github.com' }, /"github-forge.gitUrl" must not carry credentials/],
      [{ repository: 'o/r', app: { appId: 1, privateKey: 'not a key', installationId: 2 } }, /"github-forge.app.privateKey" must be the app’s PEM private key/],
    ];
    for (const [settings, message] of refused) expect(() => createGitHubForge(settings as never), JSON.stringify(settings)).toThrow(message);
    const forge = createGitHubForge({ repository: 'o/r', token: 'secret-value' });
    expect({ provider: forge.provider, capabilities: forge.capabilities, apiUrl: forge.settings.apiUrl }).toEqual({
      provider: 'github',
      capabilities: { changeRequests: true, gitAccess: true },
      apiUrl: 'https://api.github.com',
    });
  });
});

describe('reviews and reactions (what the review loop reads and adds)', () => {
  test('readReview answers a review with its line comments; a review or pull request GitHub does not have is null', async () => {
    const { forge, repository } = await forgeOnNewRepository(appAuth);
    const base = await createBase(repository, { 'README.md': 'one\n' });
    await forge.pushBranch(delivery(base));
    const pull = await forge.openChangeRequest({ branch: 'cairn/delivered', target: 'main', title: 'Deliver', body: 'body' });
    const { id, commentIds } = api.addReview(repository, Number(pull.id), {
      login: 'octo-reviewer',
      state: 'CHANGES_REQUESTED',
      body: 'Two things.',
      comments: [{ path: 'notes.txt', line: 1, body: 'rename this', diffHunk: '@@ -0,0 +1 @@\n+notes' }],
    });
    expect(await forge.readReview(pull.id, String(id))).toEqual({
      id: String(id),
      state: 'CHANGES_REQUESTED',
      body: 'Two things.',
      url: expect.stringContaining(`#pullrequestreview-${id}`),
      login: 'octo-reviewer',
      comments: [
        {
          id: String(commentIds[0]),
          body: 'rename this',
          path: 'notes.txt',
          line: 1,
          diffHunk: '@@ -0,0 +1 @@\n+notes',
          url: expect.stringContaining('#discussion_r'),
        },
      ],
    });
    expect(await forge.readReview(pull.id, '999999')).toBeNull();
    expect(await forge.readReview('4242', String(id))).toBeNull();
  });

  test('addReaction puts 👀 on an issue comment or a review comment once; an unknown comment is CAIRN_NOT_FOUND, a bad id refused before any call', async () => {
    const { forge, repository } = await forgeOnNewRepository(appAuth);
    const base = await createBase(repository, { 'README.md': 'one\n' });
    await forge.pushBranch(delivery(base));
    const pull = await forge.openChangeRequest({ branch: 'cairn/delivered', target: 'main', title: 'Deliver', body: 'body' });
    const comment = api.addIssueComment(repository, Number(pull.id), 'octo-writer', '@cairn fix the lint');
    const { commentIds } = api.addReview(repository, Number(pull.id), {
      login: 'octo-writer',
      state: 'COMMENTED',
      body: '',
      comments: [{ path: 'notes.txt', line: 1, body: 'here', diffHunk: '@@' }],
    });
    await forge.addReaction({ kind: 'issue-comment', id: String(comment) }, 'eyes');
    await forge.addReaction({ kind: 'issue-comment', id: String(comment) }, 'eyes');
    await forge.addReaction({ kind: 'review-comment', id: String(commentIds[0]) }, 'eyes');
    expect(api.reactions().filter((reaction) => reaction.commentId === comment || reaction.commentId === commentIds[0])).toEqual([
      { kind: 'issue-comment', commentId: comment, content: 'eyes', login: 'cairn-bot[bot]' },
      { kind: 'review-comment', commentId: commentIds[0], content: 'eyes', login: 'cairn-bot[bot]' },
    ]);
    const missing = await failure(() => forge.addReaction({ kind: 'review-comment', id: '123456789' }, 'eyes'));
    expect(isCairnError(missing.error, 'CAIRN_NOT_FOUND')).toBe(true);
    const requests = api.requests.length;
    const invalid = await failure(() => forge.addReaction({ kind: 'issue-comment', id: '../1' }, 'eyes'));
    expect(isCairnError(invalid.error, 'CAIRN_FORGE_REQUEST_INVALID')).toBe(true);
    expect(api.requests.length).toBe(requests);
  });
});
