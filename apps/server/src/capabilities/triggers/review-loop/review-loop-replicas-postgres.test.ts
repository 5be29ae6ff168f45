// The review loop on two replicas of one PostgreSQL database, configured as
// docs/guides/the-review-loop.md says: a review's two events (its line comment and the review
// itself), delivered at once one to each replica, start one follow-up (the review is claimed in the
// shared table, and admitted under the shared cap), and its reply is posted once, by the replica
// that runs the engine. (Two stores admitting and claiming at once: review-loop-store.test.ts.)
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { git, startGitHttpServer, type GitHttpServer } from '../../../../../../packages/git-forge/src/git-http-server.test-support.ts';
import { startGitHubApiServer, type GitHubApiServer } from '../../../../../../packages/github-forge/src/github-api.test-support.ts';
import { initServer } from '../../../cli/init-server.ts';
import { composeServer } from '../../../composition/compose-server.ts';
import type { ServerComposition } from '../../../composition/server-composition.ts';
import { loadServerConfig } from '../../../config/load-server-config.ts';
import { buildHttpApi } from '../../../http/http-server.ts';
import { startScriptedModels, type ScriptedModels } from '../../gateway/scripted-models.test-support.ts';
import { githubDelivery, issueLabeled } from '../github-deliveries.test-support.ts';
import { acmeApp, reviewCommentCreated, reviewSubmitted } from './review-deliveries.test-support.ts';
import { writeReviewLoopConfig } from './review-loop-config.test-support.ts';

const repository = 'acme/app';
const branch = 'cairn/issue-1';
const webhookSecret = 'whsec-review-replicas-2b';
const app = { id: 123456, installationId: 7890123 };
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

const cleanups: (() => Promise<void> | void)[] = [];
let database: TestDatabase;
let sharedStorage: string;
let gitServer: GitHttpServer;
let github: GitHubApiServer;
let models: ScriptedModels;
let a: Replica;
let b: Replica;

interface Replica {
  readonly composition: ServerComposition;
  readonly base: string;
  readonly directory: string;
}

async function replica(keysFrom?: string): Promise<Replica> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-review-replica-'));
  chmodSync(directory, 0o711);
  cleanups.push(() => removeWithMounts(directory));
  const init = await initServer(directory);
  writeReviewLoopConfig({
    directory,
    configFile: init.configFile,
    urls: { githubApi: github.url, git: gitServer.url('').replace(/\/\.git$/, ''), openai: models.baseUrls.openai },
    gitRoot: gitServer.root,
    // Replicas share their storage (S3 in production): a workspace one fetches, the engine's reads.
    sections: { engine: { state: database.settings }, storage: { root: sharedStorage } },
  });
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  if (keysFrom)
    for (const key of ['signing.pem', 'cipher.key']) copyFileSync(join(keysFrom, 'cairn-data', 'keys', key), join(loaded.paths.dataDirectory, 'keys', key));
  const composition = await composeServer(loaded);
  const http = await buildHttpApi({ composition, host: '127.0.0.1' });
  composition.start();
  const base = await http.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await http.close();
    await composition.close();
  });
  return { composition, base, directory };
}

const leads = (composition: ServerComposition) => {
  try {
    return composition.engine !== undefined;
  } catch {
    return false;
  }
};

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  github = await startGitHubApiServer({ repositoryPath: (name) => gitServer.path(name), app: { ...app, publicKey } });
  gitServer = await startGitHttpServer({ username: 'x-access-token', password: 'unused', accepts: (_user, token) => github.knows(token) });
  cleanups.push(
    () => gitServer.close(),
    () => github.close(),
  );
  await gitServer.createRepository(repository);
  await git(gitServer.path(repository), [
    'update-ref',
    'refs/heads/main',
    await gitServer.commit(repository, { 'README.md': '# app\n\nEvery committ is signed.\n' }),
  ]);
  github.addToken('github_pat_replicas', { repositories: [repository] });
  github.setPermission(repository, 'Codertocat', 'admin');
  const turns = (content: string) => [
    { toolCalls: [{ name: 'write_file', input: { path: 'README.md', content } }], usage: { inputTokens: 900, outputTokens: 60 } },
    { text: 'Done.', usage: { inputTokens: 1_000, outputTokens: 5 } },
  ];
  models = await startScriptedModels({ chat: [...turns('# app\n\nEvery commit is signed.\n'), ...turns('# app\n\nEvery commit is signed, by Cairn.\n')] });
  cleanups.push(() => models.close());
  database = await createTestDatabase();
  cleanups.push(() => database.drop());
  sharedStorage = mkdtempSync(join(tmpdir(), 'cairn-review-replicas-storage-'));
  cleanups.push(() => removeWithMounts(sharedStorage));
  a = await replica();
  await until('replica A to lead', () => leads(a.composition));
  b = await replica(a.directory);
  const operator = { kind: 'user', id: 'operator', via: 'cli' } as const;
  await a.composition.service.setSecret('GITHUB_APP_PRIVATE_KEY', privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), operator);
  await a.composition.service.setSecret('GITHUB_WEBHOOK_SECRET', webhookSecret, operator);
  await a.composition.service.setSecret('GITHUB_TOKEN', 'github_pat_replicas', operator);
  await a.composition.service.setSecret('OPENAI_API_KEY', 'sk-provider-replicas', operator);
}, 180_000);

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const deliver = async (at: Replica, event: string, payload: unknown) => {
  const response = await fetch(`${at.base}/v1/triggers/github`, githubDelivery(event, payload, { secret: webhookSecret }));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

test("a review's two events at two replicas at once start one follow-up, whose reply the leader posts once", { timeout: 120_000 }, async () => {
  expect([leads(a.composition), leads(b.composition)]).toEqual([true, false]);
  const labelled = issueLabeled({ label: 'cairn:fix' });
  const issue = await deliver(b, 'issues', {
    ...labelled,
    issue: { ...labelled.issue, html_url: 'https://github.com/acme/app/issues/1' },
    repository: acmeApp,
  });
  expect(issue.status, JSON.stringify(issue.body)).toBe(201);
  const issueRun = await a.composition.engine.waitForRun(issue.body['runId'] as string);
  expect(issueRun.state, JSON.stringify(await a.composition.service.items(issueRun.runId))).toBe('succeeded');

  const head = (await git(gitServer.path(repository), ['rev-parse', `refs/heads/${branch}`])).trim();
  const pull = { number: 1, branch, head };
  const comment = { path: 'README.md', line: 3, body: 'Say who signs it.', diffHunk: '@@ -3 +3 @@\n-Every committ is signed.\n+Every commit is signed.' };
  const { id, commentIds } = github.addReview(repository, 1, { login: 'Codertocat', state: 'CHANGES_REQUESTED', body: '', comments: [comment] });
  const answers = await Promise.all([
    deliver(a, 'pull_request_review_comment', reviewCommentCreated(pull, { ...comment, id: commentIds[0]!, reviewId: id, login: 'Codertocat' })),
    deliver(b, 'pull_request_review', reviewSubmitted(pull, { id, login: 'Codertocat', state: 'changes_requested', body: '' })),
  ]);
  const started = answers.filter((answer) => answer.status === 201);
  expect(started, JSON.stringify(answers)).toHaveLength(1);
  expect(answers.filter((answer) => answer.status === 200).map((answer) => answer.body)).toEqual([{ duplicate: true }]);
  const runId = started[0]!.body['runId'] as string;
  expect((await a.composition.engine.waitForRun(runId)).state).toBe('succeeded');

  const replies = () => github.comments(repository, 1).filter((posted) => posted.startsWith('Follow-up for') && posted.includes(runId));
  await until('the reply', () => replies().length > 0);
  // Time for a second reply, were the follower replica to post one too.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect(replies()).toHaveLength(1);
  expect(replies()[0]).toContain('**Pushed**');
  expect(await git(gitServer.path(repository), ['show', `refs/heads/${branch}:README.md`])).toContain('by Cairn');
});
