// The review loop end to end, as docs/guides/the-review-loop.md sets it up (its template and config
// sections, over those of from-an-issue-to-a-pull-request.md): a real server (SQLite, local seams)
// receives GitHub deliveries signed as GitHub signs them; a labelled issue becomes a pull request
// (an agent item through the model gateway against a scripted Chat Completions endpoint, a deliver
// item pushing to `git http-backend` on loopback); then reviews, mentions and a failed check on that
// pull request start follow-up runs that push to the same branch, through the GitHub REST test
// endpoint (reviews, comments, reactions, permissions) as a GitHub App installation.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGitHubForge } from '@cairn/github-forge';
import { removeWithMounts } from '@cairn/local';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { git, startGitHttpServer, type GitHttpServer } from '../../../../../../packages/git-forge/src/git-http-server.test-support.ts';
import { startGitHubApiServer, type GitHubApiServer } from '../../../../../../packages/github-forge/src/github-api.test-support.ts';
import { initServer } from '../../../cli/init-server.ts';
import { composeServer } from '../../../composition/compose-server.ts';
import type { ServerComposition } from '../../../composition/server-composition.ts';
import { loadServerConfig } from '../../../config/load-server-config.ts';
import { httpApiSettingsOf } from '../../../http/http-api-settings.ts';
import { buildHttpApi } from '../../../http/http-server.ts';
import { startScriptedModels, type ScriptedModels, type ScriptedTurn } from '../../gateway/scripted-models.test-support.ts';
import { githubDelivery, issueLabeled } from '../github-deliveries.test-support.ts';
import { FollowUpReplies } from './follow-up-replies.ts';
import { writeReviewLoopConfig } from './review-loop-config.test-support.ts';
import { auditEntriesOf, bundleOf as bundleOfRun, replyTo as replyToRun } from './review-loop-harness.test-support.ts';
import { SqliteReviewLoopStore } from './store/review-loop-store-sqlite.ts';
import {
  acmeApp,
  checkRunCompleted,
  pullCommentCreated,
  pullRequestLabelled,
  reviewCommentCreated,
  reviewSubmitted,
  workflowRunCompleted,
  type PullAt,
} from './review-deliveries.test-support.ts';

const repository = 'acme/app';
const branch = 'cairn/issue-1';
const webhookSecret = 'whsec-review-loop-7d1e';
const triggerToken = 'github_pat_review_loop';
const app = { id: 123456, installationId: 7890123 };
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const fixedReadme = '# app\n\nEvery commit is signed.\n';

/** Released when the test has pushed a commit of its own during the follow-up it holds. */
let humanPushed: () => void = () => undefined;
const heldForHumanPush = new Promise<void>((resolve) => (humanPushed = resolve));
/** Each run's agent: writes one file, then says it is done. */
const agentTurns = (path: string, content: string, held?: Promise<unknown>): ScriptedTurn[] => [
  { toolCalls: [{ name: 'write_file', input: { path, content } }], usage: { inputTokens: 900, outputTokens: 60 }, ...(held ? { heldUntil: held } : {}) },
  { text: 'Done.', usage: { inputTokens: 1_000, outputTokens: 5 } },
];

let gitServer: GitHttpServer;
let github: GitHubApiServer;
let models: ScriptedModels;
let composition: ServerComposition;
let base: string;
let close: () => Promise<void>;
let triggersDatabase: string;
let issueRunId: string;

beforeAll(async () => {
  github = await startGitHubApiServer({ repositoryPath: (name) => gitServer.path(name), app: { ...app, publicKey } });
  gitServer = await startGitHttpServer({ username: 'x-access-token', password: 'unused', accepts: (_user, token) => github.knows(token) });
  await gitServer.createRepository(repository);
  const main = await gitServer.commit(repository, { 'README.md': '# app\n\nEvery committ is signed.\n' });
  await git(gitServer.path(repository), ['update-ref', 'refs/heads/main', main]);
  github.addToken(triggerToken, { repositories: [repository] });
  github.setPermission(repository, 'Codertocat', 'admin');
  github.setPermission(repository, 'hubot-writer', 'maintain');
  github.setPermission(repository, 'octo-reader', 'read');
  models = await startScriptedModels({
    chat: [
      ...agentTurns('README.md', fixedReadme),
      ...agentTurns('README.md', `${fixedReadme}\nSee CONTRIBUTING.md.\n`),
      ...agentTurns('NOTES.md', 'The lint is fixed.\n'),
      ...agentTurns('NOTES.md', 'The test expects two lines.\nIt has two now.\n'),
      ...agentTurns('NOTES.md', 'One more thing, done.\n'),
      ...agentTurns('NOTES.md', 'An answer pushed too late.\n', heldForHumanPush),
      // Its last call is dear (gpt-4.1 at $2 a million input tokens): the pull request's spend passes the guide's $5.
      {
        toolCalls: [{ name: 'write_file', input: { path: 'NOTES.md', content: "Built on the person's change.\n" } }],
        usage: { inputTokens: 900, outputTokens: 60 },
      },
      { text: 'Done.', usage: { inputTokens: 3_000_000, outputTokens: 5 } },
      ...agentTurns('NOTES.md', 'The README names CONTRIBUTING.md now.\n'),
    ],
  });

  const directory = mkdtempSync(join(tmpdir(), 'cairn-review-loop-'));
  chmodSync(directory, 0o711);
  const init = await initServer(directory);
  writeReviewLoopConfig({
    directory,
    configFile: init.configFile,
    urls: { githubApi: github.url, git: gitServer.url('').replace(/\/\.git$/, ''), openai: models.baseUrls.openai },
    gitRoot: gitServer.root,
    github: { installations: [2311213] },
  });
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  triggersDatabase = loaded.paths.triggers;
  composition = await composeServer(loaded);
  const operator = { kind: 'user', id: 'operator', via: 'cli' } as const;
  await composition.service.setSecret('GITHUB_APP_PRIVATE_KEY', privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), operator);
  await composition.service.setSecret('GITHUB_WEBHOOK_SECRET', webhookSecret, operator);
  await composition.service.setSecret('GITHUB_TOKEN', triggerToken, operator);
  await composition.service.setSecret('OPENAI_API_KEY', 'sk-provider-review-loop', operator);
  const http = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1' });
  composition.start();
  base = await http.listen({ host: '127.0.0.1', port: 0 });
  close = async () => {
    await http.close();
    await composition.close();
    removeWithMounts(directory);
  };

  // The pull request the loop answers: issue #1 labelled cairn:fix, delivered as PR #1 on cairn/issue-1.
  const labelled = issueLabeled({ label: 'cairn:fix' });
  const answer = await deliver('issues', {
    ...labelled,
    issue: { ...labelled.issue, html_url: 'https://github.com/acme/app/issues/1' },
    repository: acmeApp,
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  issueRunId = answer.body['runId'] as string;
  expect((await composition.engine.waitForRun(issueRunId)).state).toBe('succeeded');
}, 120_000);

afterAll(async () => {
  humanPushed();
  await close?.();
  await models?.close();
  await github?.close();
  await gitServer?.close();
});

let deliveries = 0;
/** Posts GitHub's delivery of `event` (a fresh delivery id unless given), signed with the webhook's secret. */
async function deliver(event: string, payload: unknown, deliveryId?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  deliveries += 1;
  const response = await fetch(
    `${base}/v1/triggers/github`,
    githubDelivery(event, payload, { secret: webhookSecret, deliveryId: deliveryId ?? `review-loop-${deliveries}` }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const bare = () => gitServer.path(repository);
const tipOf = async (name: string) => (await git(bare(), ['rev-parse', `refs/heads/${name}`])).trim();
const pullNow = async (): Promise<PullAt> => ({ number: 1, branch, head: await tipOf(branch) });

const entries = (action: string) => auditEntriesOf(composition.service, action);
const bundleOf = (runId: string) => bundleOfRun(composition.service, runId);
const replyTo = (runId: string) => replyToRun(github, repository, runId);

test(
  'a review comment starts a follow-up: one commit on the same branch, 👀 on the comment, a reply, the evidence naming the review',
  { timeout: 60_000 },
  async () => {
    const pull = await pullNow();
    const delivered = pull.head;
    const review = { login: 'Codertocat', state: 'CHANGES_REQUESTED', body: 'Almost there.' };
    const comment = {
      path: 'README.md',
      line: 3,
      body: 'Point readers to CONTRIBUTING.md here.',
      diffHunk: '@@ -1,3 +1,3 @@\n # app\n \n-Every committ is signed.\n+Every commit is signed.',
    };
    const { id, commentIds } = github.addReview(repository, 1, { ...review, comments: [comment] });
    // A person edits the pull request's title and body: a follow-up must leave them as they are.
    github.addToken('github_pat_person', { write: true, repositories: [repository] });
    const pullApi = `${github.url}/repos/${repository}/pulls/1`;
    const asPerson = { authorization: 'token github_pat_person', 'content-type': 'application/json' };
    const edited = { title: 'Fix the spelling of commit (edited)', body: 'Edited by a person.\n\nMade by Cairn.' };
    expect((await fetch(pullApi, { method: 'PATCH', headers: asPerson, body: JSON.stringify(edited) })).status).toBe(200);

    // The line comment arrives first; the review's own event after it is the same feedback, handled once.
    const answer = await deliver(
      'pull_request_review_comment',
      reviewCommentCreated(pull, { ...comment, id: commentIds[0]!, reviewId: id, login: 'Codertocat' }),
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    expect(answer.body).toMatchObject({ duplicate: false, template: 'answer-review' });
    const again = await deliver('pull_request_review', reviewSubmitted(pull, { id, login: 'Codertocat', state: 'changes_requested', body: review.body }));
    expect(again.body).toEqual({ duplicate: true });
    const runId = answer.body['runId'] as string;
    expect(github.reactions()).toContainEqual({ kind: 'review-comment', commentId: commentIds[0], content: 'eyes', login: 'cairn-bot[bot]' });

    expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
    // The agent was asked with the review whole: its body, the comment, where it is and the lines it is on.
    const prompt = JSON.stringify(models.turns('chat').at(-2)!.body);
    expect(prompt).toContain('Almost there.');
    expect(prompt).toContain('On README.md line 3:');
    expect(prompt).toContain('Point readers to CONTRIBUTING.md here.');
    expect(prompt).toContain('-Every committ is signed.');

    // One commit more on the branch, on the delivered one, its trailers naming the follow-up.
    const tip = await tipOf(branch);
    expect((await git(bare(), ['rev-list', '--parents', '-n', '1', tip])).trim()).toBe(`${tip} ${delivered}`);
    expect(await git(bare(), ['show', `${tip}:README.md`])).toContain('See CONTRIBUTING.md.');
    expect(await git(bare(), ['log', '-1', '--format=%B', tip])).toContain(`Cairn-Run: ${runId}\n`);

    const reply = await replyTo(runId);
    expect(reply).toContain(`**Pushed** ${tip} to \`${branch}\``);
    // The pull request kept the person's title and body; the new commit's provenance is a comment on it.
    expect(await (await fetch(pullApi, { headers: asPerson })).json()).toMatchObject(edited);
    expect(github.comments(repository, 1).some((posted) => posted.includes(tip) && !posted.startsWith('Follow-up for'))).toBe(true);
    expect(reply).toContain(`/v1/runs/${runId}/bundle`);
    expect(reply).toMatch(/Spend: 2 model calls, 1900 input and 65 output tokens/);
    // The evidence names the review that caused the run: its spec, in the bundle, carries it.
    expect(JSON.stringify(await bundleOf(runId))).toContain(`#pullrequestreview-${id}`);
    expect((await composition.service.spec(runId))!.labels).toMatchObject({
      'cairn.dev/feedback': `${github.url}/${repository}/pull/1#pullrequestreview-${id}`,
      'cairn.dev/feedback-id': `review:${id}`,
    });
  },
);

test('a mention by someone with write access starts one follow-up; the same comment delivered again starts nothing', { timeout: 60_000 }, async () => {
  const before = (await entries('run.submitted')).length;
  const commentId = github.addIssueComment(repository, 1, 'hubot-writer', '@cairn fix the lint, please');
  const payload = pullCommentCreated(1, { id: commentId, login: 'hubot-writer', body: '@cairn fix the lint, please' });
  const answer = await deliver('issue_comment', payload);
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  // GitHub's redelivery (same id) and a copy under another delivery id: one run.
  expect((await deliver('issue_comment', payload, `review-loop-${deliveries}`)).body).toEqual({ duplicate: true });
  expect((await deliver('issue_comment', payload)).body).toEqual({ duplicate: true });
  expect((await entries('run.submitted')).length).toBe(before + 1);
  expect(github.reactions()).toContainEqual({ kind: 'issue-comment', commentId, content: 'eyes', login: 'cairn-bot[bot]' });
  const runId = answer.body['runId'] as string;
  expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
  expect(await replyTo(runId)).toContain('**Pushed**');
  // The evidence names the comment that caused the run.
  expect((await composition.service.spec(runId))!.labels).toMatchObject({
    'cairn.dev/feedback': `https://github.com/acme/app/pull/1#issuecomment-${commentId}`,
    'cairn.dev/feedback-id': `issue-comment:${commentId}`,
  });
  expect(JSON.stringify(await bundleOf(runId))).toContain(`#issuecomment-${commentId}`);
});

test('a mention by a reader is refused and audited, and starts nothing', async () => {
  const before = (await entries('run.submitted')).length;
  const commentId = github.addIssueComment(repository, 1, 'octo-reader', '@cairn rewrite everything');
  const refused = await deliver('issue_comment', pullCommentCreated(1, { id: commentId, login: 'octo-reader', body: '@cairn rewrite everything' }));
  expect(refused.status).toBe(403);
  expect(refused.body).toMatchObject({ code: 'CAIRN_FORBIDDEN', message: expect.stringContaining('octo-reader has the read role on acme/app') });
  const denial = (await entries('access.denied')).at(-1)!;
  expect(denial).toMatchObject({ actor: { kind: 'user', id: 'github:octo-reader' }, entity: { kind: 'server', id: 'triggers/github/review-loop' } });
  expect((await entries('run.submitted')).length).toBe(before);
  expect(github.reactions().some((reaction) => reaction.commentId === commentId)).toBe(false);
});

test("a failed check on Cairn's commit starts a follow-up with the end of its report; one on another commit starts nothing", { timeout: 60_000 }, async () => {
  const pull = await pullNow();
  const report = `${'npm test\n'.repeat(1_000)}GITHUB_TOKEN=ghp_${'x'.repeat(36)}\nAssertionError: expected 1 line, got 2\n    at test/readme.test.ts:12:5`;
  const check = { id: 4_000_001, name: 'test', headSha: pull.head, conclusion: 'failure', summary: '1 test failed', text: report };
  const other = await deliver('check_run', checkRunCompleted(pull, { ...check, id: 4_000_000, headSha: 'f'.repeat(40) }));
  expect(other.body).toMatchObject({ duplicate: false, ignored: expect.stringContaining('a push by someone else answers for its own checks') });
  const passed = await deliver('check_run', checkRunCompleted(pull, { ...check, id: 4_000_002, conclusion: 'success' }));
  expect(passed.body).toMatchObject({ ignored: 'the check concluded success, not failure or timed_out' });

  const answer = await deliver('check_run', checkRunCompleted(pull, check));
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  const runId = answer.body['runId'] as string;
  expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
  const spec = (await composition.service.spec(runId))!;
  const prompt = (spec.items[0]!.runtime as { prompt: string }).prompt;
  // The end of the report, where the failure is, within its bound (the guide's 100 lines) and marked where it was cut; no credential.
  expect(prompt).toContain('AssertionError: expected 1 line, got 2\n    at test/readme.test.ts:12:5');
  expect(prompt).toMatch(/\(\d+ earlier lines cut\) …/);
  expect(prompt).toContain('GITHUB_TOKEN=ghp_[redacted]');
  expect(prompt).not.toContain('xxxxxxxx');
  expect(prompt).toContain('test failure');
  expect(prompt.length).toBeLessThan(6_000);
  // The evidence names the check that caused the run.
  expect(spec.labels).toMatchObject({ 'cairn.dev/feedback': 'https://github.com/acme/app/runs/4000001', 'cairn.dev/feedback-id': 'check-run:4000001' });
  expect(JSON.stringify(await bundleOf(runId))).toContain('https://github.com/acme/app/runs/4000001');
  expect(github.comments(repository, 1)).toContainEqual(`👀 Working on the failed check test: follow-up run \`${runId}\`.`);
  expect(await replyTo(runId)).toContain('**Pushed**');
});

test(
  'the cap per pull request is a comment and no run; @cairn resume counts afresh; @cairn stop ends the loop until resumed',
  { timeout: 60_000 },
  async () => {
    const ask = async (login: string, body: string) => {
      const commentId = github.addIssueComment(repository, 1, login, body);
      return deliver('issue_comment', pullCommentCreated(1, { id: commentId, login, body }));
    };
    const before = (await entries('run.submitted')).length;
    // Three follow-ups so far (the review, a mention, the check): the guide's cap is 3.
    const capped = await ask('Codertocat', '@cairn one more thing');
    expect(capped.body).toMatchObject({ duplicate: false, ignored: expect.stringContaining('This pull request has had 3 follow-up runs') });
    expect(github.comments(repository, 1).at(-1)).toContain('comments `@cairn resume` (the count starts again)');

    expect((await ask('hubot-writer', '@cairn stop')).body).toMatchObject({ ignored: 'stopped the review loop of #1' });
    expect(github.comments(repository, 1).at(-1)).toContain('Stopped the review loop of this pull request (@cairn stop by hubot-writer)');
    const stopped = await ask('Codertocat', '@cairn one more thing');
    expect(stopped.body).toMatchObject({ ignored: expect.stringContaining('The review loop of this pull request is stopped (@cairn stop by hubot-writer)') });
    expect(github.comments(repository, 1).at(-1)).toContain('someone with write access comments `@cairn resume`');
    // A reader cannot lift it.
    expect((await ask('octo-reader', '@cairn resume')).status).toBe(403);
    expect((await entries('run.submitted')).length).toBe(before);

    expect((await ask('Codertocat', '@cairn resume')).body).toMatchObject({ ignored: 'resumed the review loop of #1' });
    const resumed = await ask('Codertocat', '@cairn one more thing, now');
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(201);
    expect((await entries('run.submitted')).length).toBe(before + 1);
    await composition.engine.waitForRun(resumed.body['runId'] as string);
  },
);

test(
  'a push by someone else while a follow-up runs: its push is refused, nothing is overwritten, and the pull request is told',
  { timeout: 60_000 },
  async () => {
    const calls = models.turns('chat').length;
    const commentId = github.addIssueComment(repository, 1, 'Codertocat', '@cairn note what the test expects');
    const answer = await deliver('issue_comment', pullCommentCreated(1, { id: commentId, login: 'Codertocat', body: '@cairn note what the test expects' }));
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const runId = answer.body['runId'] as string;
    // The follow-up's agent is held mid-call; a person pushes a commit to the branch meanwhile.
    for (let waited = 0; models.turns('chat').length === calls; waited += 1) {
      if (waited > 400) throw new Error('the follow-up never called its model');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const started = await tipOf(branch);
    const seed = await gitServer.commit(repository, { 'README.md': `${fixedReadme}\nA person's own change.\n` });
    const tree = (await git(bare(), ['rev-parse', `${seed}^{tree}`])).trim();
    const human = (
      await git(bare(), ['-c', 'user.name=A Person', '-c', 'user.email=person@example.com', 'commit-tree', tree, '-p', started, '-m', "A person's own change"])
    ).trim();
    await git(bare(), ['update-ref', `refs/heads/${branch}`, human, started]);
    humanPushed();

    expect((await composition.engine.waitForRun(runId)).state).toBe('failed');
    const items = await composition.service.items(runId);
    expect(items.find((item) => item.itemId === 'push')!.failure).toMatchObject({ code: 'CAIRN_FORGE_CONFLICT' });
    expect(await tipOf(branch)).toBe(human);
    const reply = await replyTo(runId);
    expect(reply).toContain(`**Nothing was pushed:** \`${branch}\` moved while the follow-up ran (someone pushed to it since ${started})`);
    expect(reply).toContain('nothing was overwritten (`CAIRN_FORGE_CONFLICT`)');
  },
);

test("a push by someone else before a follow-up starts is built on: the follow-up's commit goes on top of it", { timeout: 60_000 }, async () => {
  // The branch holds the person's commit of the test before (not one Cairn delivered).
  const started = await tipOf(branch);
  expect(await git(bare(), ['log', '-1', '--format=%s', started])).toBe("A person's own change\n");
  const commentId = github.addIssueComment(repository, 1, 'Codertocat', '@cairn try again');
  const answer = await deliver('issue_comment', pullCommentCreated(1, { id: commentId, login: 'Codertocat', body: '@cairn try again' }));
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  const runId = answer.body['runId'] as string;
  expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
  const tip = await tipOf(branch);
  expect((await git(bare(), ['rev-list', '--parents', '-n', '1', tip])).trim()).toBe(`${tip} ${started}`);
  expect(await git(bare(), ['show', `${tip}:README.md`])).toContain("A person's own change.");
  expect(await replyTo(runId)).toContain(`**Pushed** ${tip} to \`${branch}\` (on ${started})`);
});

test('a pull request whose follow-ups spent its cap is told so, and no run starts', { timeout: 60_000 }, async () => {
  const before = (await entries('run.submitted')).length;
  const commentId = github.addIssueComment(repository, 1, 'Codertocat', '@cairn and one more');
  const capped = await deliver('issue_comment', pullCommentCreated(1, { id: commentId, login: 'Codertocat', body: '@cairn and one more' }));
  expect(capped.body).toMatchObject({
    duplicate: false,
    ignored: expect.stringMatching(
      /^This pull request's follow-up runs have spent \$6\.\d+ on models, at least what the server allows one pull request \(`triggers\.github\.reviewLoop\.maxSpendPerPullRequestUsd`: \$5\.00\)/,
    ),
  });
  expect(github.comments(repository, 1).at(-1)).toContain('comments `@cairn resume` (the spend is counted again from then)');
  expect((await entries('run.submitted')).length).toBe(before);
});

test('the stop label, added by someone with write access, stops the loop until it is removed', { timeout: 60_000 }, async () => {
  const pull = await pullNow();
  const labelled = (action: 'labeled' | 'unlabeled', login: string) => pullRequestLabelled(pull, { action, label: 'cairn:stop', login });
  const before = (await entries('run.submitted')).length;
  expect((await deliver('pull_request', labelled('labeled', 'octo-reader'))).status).toBe(403);
  expect((await deliver('pull_request', labelled('labeled', 'hubot-writer'))).body).toMatchObject({ ignored: 'stopped the review loop of #1' });
  const commentId = github.addIssueComment(repository, 1, 'Codertocat', '@cairn again');
  const stopped = await deliver('issue_comment', pullCommentCreated(1, { id: commentId, login: 'Codertocat', body: '@cairn again' }));
  expect(stopped.body).toMatchObject({ ignored: expect.stringContaining('is stopped (the label cairn:stop, by hubot-writer)') });
  expect(github.comments(repository, 1).at(-1)).toContain('comments `@cairn resume` and removes the label `cairn:stop`');
  expect((await deliver('pull_request', labelled('unlabeled', 'hubot-writer'))).body).toMatchObject({ ignored: 'resumed the review loop of #1' });
  expect((await entries('run.submitted')).length).toBe(before);
});

test(
  "a failed workflow run on Cairn's commit starts a follow-up given the end of its failed job's log, read through the Actions API, credentials redacted",
  { timeout: 60_000 },
  async () => {
    const pull = await pullNow();
    const log = [
      '2026-11-28T10:00:00.0000000Z ##[group]Run npm test',
      ...Array.from({ length: 300 }, (_, index) => `2026-11-28T10:00:01.0000000Z ok ${index + 1} - passes`),
      `2026-11-28T10:00:02.0000000Z npm ERR! GET https://x-access-token:ghs_${'s'.repeat(36)}@github.com/acme/app.git`,
      '2026-11-28T10:00:02.0000000Z Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJl',
      '2026-11-28T10:00:03.0000000Z not ok 301 - the README names CONTRIBUTING.md',
      '2026-11-28T10:00:03.0000000Z ##[error]Process completed with exit code 1.',
    ].join('\n');
    const workflowRun = 30_433_642;
    github.addWorkflowRun(repository, {
      id: workflowRun,
      headSha: pull.head,
      branch,
      jobs: [
        { name: 'lint', conclusion: 'success', steps: [{ name: 'Run npm run lint', conclusion: 'success' }], log: 'All clean.' },
        {
          name: 'test',
          conclusion: 'failure',
          steps: [
            { name: 'Set up job', conclusion: 'success' },
            { name: 'Run npm test', conclusion: 'failure' },
          ],
          log,
        },
      ],
    });
    const answer = await deliver('workflow_run', workflowRunCompleted(pull, { id: workflowRun, name: 'CI', headSha: pull.head, conclusion: 'failure' }));
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const runId = answer.body['runId'] as string;
    // The jobs of the run's attempt, then the failed job's log (a 302 to a download that takes no token).
    expect(github.requests).toContain(`GET /repos/acme/app/actions/runs/${workflowRun}/attempts/1/jobs`);
    expect(github.requests.some((request) => /^GET \/repos\/acme\/app\/actions\/jobs\/\d+\/logs$/.test(request))).toBe(true);
    expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');

    const spec = (await composition.service.spec(runId))!;
    const prompt = (spec.items[0]!.runtime as { prompt: string }).prompt;
    expect(prompt).toContain('The job test concluded failure at "Run npm test".');
    expect(prompt).toContain('CI failure');
    expect(prompt).toContain('not ok 301 - the README names CONTRIBUTING.md\n##[error]Process completed with exit code 1.');
    // The guide's bound: the last 100 lines, said where cut; GitHub's timestamps dropped; no credential.
    expect(prompt).toMatch(/\(\d+ earlier lines cut\) …\nok \d+ - passes/);
    expect(prompt).not.toContain('ok 1 - passes\n');
    expect(prompt).not.toContain('2026-11-28T10:00');
    expect(prompt).toContain('npm ERR! GET https://[redacted]@github.com/acme/app.git');
    expect(prompt).toContain('Authorization: Bearer [redacted]');
    expect(prompt).not.toMatch(/sssssss|eyJpc3Mi/);
    // The evidence names the workflow run that caused the follow-up.
    expect(spec.labels).toMatchObject({
      'cairn.dev/feedback': `https://github.com/acme/app/actions/runs/${workflowRun}`,
      'cairn.dev/feedback-id': `workflow-run:${workflowRun}:1`,
    });
    expect(await replyTo(runId)).toContain('**Pushed**');
  },
);

test('the cap per hour is a comment naming the bound and when to ask again, and no run starts', async () => {
  // As on a busy server: follow-ups of other pull requests in this hour, up to the guide's 20.
  const store = new SqliteReviewLoopStore(triggersDatabase);
  const others: string[] = [];
  for (let index = 0; index < 100; index += 1) {
    const feedbackId = `issue-comment:elsewhere-${index}`;
    const admitted = await store.admit(
      { feedbackId, repository, pullNumber: 900 + index, requestedAt: Date.now(), detail: '{}' },
      { perPullRequest: 100, perHour: 20 },
    );
    if (!admitted.admitted) break;
    others.push(feedbackId);
  }
  expect(others.length).toBeGreaterThan(0);
  const before = (await entries('run.submitted')).length;
  const commentId = github.addIssueComment(repository, 1, 'Codertocat', '@cairn once more');
  const capped = await deliver('issue_comment', pullCommentCreated(1, { id: commentId, login: 'Codertocat', body: '@cairn once more' }));
  expect(capped.body).toMatchObject({
    duplicate: false,
    ignored:
      'The server has started 20 follow-up runs in the last hour, the most it allows (`triggers.github.reviewLoop.maxFollowUpsPerHour`: 20): this feedback started none.',
  });
  expect(github.comments(repository, 1).at(-1)).toMatch(/\n\nAsk again after \d{4}-\d\d-\d\d \d\d:\d\d UTC, or the server's operator raises the option\.$/);
  expect((await entries('run.submitted')).length).toBe(before);
  for (const feedbackId of others) await store.withdraw(feedbackId);
  store.close();
});

test('a follow-up that ended while no server followed is replied to by the next one to start, once', { timeout: 60_000 }, async () => {
  // As a server that stopped before replying left it: a follow-up recorded with its ended run, no reply.
  const store = new SqliteReviewLoopStore(triggersDatabase);
  const detail = { feedback: 'the comment of Codertocat', url: 'https://github.com/acme/app/pull/1#issuecomment-1', branch, head: 'a'.repeat(40) };
  const admitted = await store.admit(
    { feedbackId: 'issue-comment:left-unreplied', repository, pullNumber: 1, requestedAt: Date.now() - 7_200_000, detail: JSON.stringify(detail) },
    { perPullRequest: 100, perHour: 100 },
  );
  expect(admitted).toEqual({ admitted: true });
  await store.started('issue-comment:left-unreplied', issueRunId);
  github.addToken('github_pat_replies', { write: true, repositories: [repository] });
  const forge = createGitHubForge({ repository, apiUrl: github.url, gitUrl: gitServer.url('').replace(/\/\.git$/, ''), token: 'github_pat_replies' });
  const starting = [0, 1].map(() => new FollowUpReplies({ store, service: composition.service, storage: composition.storage, forge: async () => forge }));
  starting.forEach((replies) => replies.start());
  const reply = await replyTo(issueRunId);
  expect(reply).toContain(`Follow-up for [the comment of Codertocat](https://github.com/acme/app/pull/1#issuecomment-1): run [\`${issueRunId}\`]`);
  await Promise.all(starting.map((replies) => replies.stop()));
  expect(github.comments(repository, 1).filter((comment) => comment.includes(`run [\`${issueRunId}\`]`))).toHaveLength(1);
  expect(await store.unreplied()).toEqual([]);
  store.close();
});

test('a pull request Cairn did not deliver, and an approving review, start nothing', async () => {
  const stranger = await deliver(
    'pull_request_review',
    reviewSubmitted({ number: 7, branch: 'feature/by-hand', head: 'a'.repeat(40) }, { id: 99, login: 'Codertocat', state: 'changes_requested', body: 'x' }),
  );
  expect(stranger.body).toMatchObject({ ignored: 'pull request #7 (branch feature/by-hand) was not delivered by Cairn: the review loop answers only those' });
  const closed = reviewSubmitted(await pullNow(), { id: 101, login: 'Codertocat', state: 'changes_requested', body: 'too late' });
  const afterMerge = await deliver('pull_request_review', { ...closed, pull_request: { ...closed.pull_request, state: 'closed' } });
  expect(afterMerge.body).toMatchObject({ ignored: 'acme/app has no open pull request #1' });
  const approved = await deliver('pull_request_review', reviewSubmitted(await pullNow(), { id: 100, login: 'Codertocat', state: 'approved', body: 'LGTM' }));
  expect(approved.body).toMatchObject({ ignored: 'an approving review asks for no change' });
});
