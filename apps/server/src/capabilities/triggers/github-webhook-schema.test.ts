// Every GitHub delivery the tests send is checked against GitHub's published webhooks description
// (`@octokit/openapi-webhooks`) before it is sent: each builder's payload passes it, and one GitHub
// would never send is refused with the schema's message, so a test built on it fails.
import { expect, test } from 'vitest';
import { githubDelivery, issueCommentCreated, issueLabeled } from './github-deliveries.test-support.ts';
import { githubWebhookProblem } from './github-webhook-schema.test-support.ts';
import {
  checkRunCompleted,
  pullCommentCreated,
  pullRequestLabelled,
  reviewCommentCreated,
  reviewSubmitted,
  workflowRunCompleted,
} from './review-loop/review-deliveries.test-support.ts';

const pull = { number: 1, branch: 'cairn/issue-1', head: 'a'.repeat(40) };

test('every delivery the builders make is one GitHub sends, by its event and action', () => {
  const deliveries: [string, unknown][] = [
    ['issues', issueLabeled({ label: 'cairn:fix' })],
    ['issue_comment', issueCommentCreated('/cairn run fix-issue')],
    ['issue_comment', pullCommentCreated(1, { id: 7, login: 'hubot-writer', body: '@cairn fix the lint' })],
    ['pull_request_review', reviewSubmitted(pull, { id: 80, login: 'Codertocat', state: 'changes_requested', body: 'Almost.' })],
    [
      'pull_request_review_comment',
      reviewCommentCreated(pull, { id: 81, reviewId: 80, login: 'Codertocat', path: 'README.md', line: 3, body: 'Here.', diffHunk: '@@ -1 +1 @@' }),
    ],
    ['check_run', checkRunCompleted(pull, { id: 4, name: 'test', headSha: pull.head, conclusion: 'failure', summary: '1 failed', text: 'log' })],
    ['workflow_run', workflowRunCompleted(pull, { id: 30433642, name: 'CI', headSha: pull.head, conclusion: 'failure' })],
    ['pull_request', pullRequestLabelled(pull, { action: 'labeled', label: 'cairn:stop', login: 'hubot-writer' })],
    ['pull_request', pullRequestLabelled({ ...pull, labels: ['cairn:stop'] }, { action: 'unlabeled', label: 'cairn:stop', login: 'hubot-writer' })],
  ];
  for (const [event, payload] of deliveries) expect(githubWebhookProblem(event, payload), `${event} ${(payload as { action: string }).action}`).toBeUndefined();
});

test('a malformed delivery is refused with the schema of its event and action, and the test that built it fails', () => {
  const check = checkRunCompleted(pull, { id: 4, name: 'test', headSha: pull.head, conclusion: 'failed', summary: '', text: '' });
  expect(githubWebhookProblem('check_run', check)).toMatch(
    /^webhook-check-run-completed: \/check_run\/check_suite\/conclusion must be equal to one of the allowed values: \[.*"failure",.*"timed_out"/,
  );
  const review = reviewSubmitted(pull, { id: 80, login: 'Codertocat', state: 'commented', body: 'x' });
  const { commit_id: _dropped, ...withoutCommit } = review.review;
  expect(githubWebhookProblem('pull_request_review', { ...review, review: withoutCommit })).toBe(
    'webhook-pull-request-review-submitted: /review must have commit_id',
  );
  expect(githubWebhookProblem('pull_request_review', { ...review, action: 'approved' })).toBe(
    'GitHub sends no pull_request_review delivery with action "approved"',
  );
  expect(() => githubDelivery('check_run', check, { secret: 's' })).toThrow(
    /^a test delivery GitHub would never send \(@octokit\/openapi-webhooks\): webhook-check-run-completed: \/check_run\/check_suite\/conclusion must be equal to one of the allowed values/,
  );
  // A test that means to send what GitHub never would says so, and why.
  expect(githubDelivery('check_run', check, { secret: 's', unchecked: 'the server must answer a malformed delivery' }).method).toBe('POST');
});
