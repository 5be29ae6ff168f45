// How the review loop reads GitHub's deliveries, as a table: which start a follow-up, which are a
// command, which are passed over and why. Pure: no server, no GitHub.
import { describe, expect, test } from 'vitest';
import { boundedHead, boundedTail } from './follow-up-parameters.ts';
import { mentions, pullRequestEventOf } from './pull-request-event.ts';
import { checkRunCompleted, pullCommentCreated, reviewCommentCreated, reviewSubmitted } from './review-deliveries.test-support.ts';

const options = { handle: '@cairn', stopLabel: 'cairn:stop' };
const pull = { number: 1, branch: 'cairn/issue-1', head: 'a'.repeat(40) };
const comment = { id: 7, reviewId: 70, login: 'octo', path: 'README.md', line: 3, body: 'rename', diffHunk: '@@' };
const check = { id: 9, name: 'test', headSha: pull.head, conclusion: 'failure', summary: 'failed', text: 'log' };

describe('pullRequestEventOf', () => {
  test.each([
    [
      'a review that requests changes',
      'pull_request_review',
      reviewSubmitted(pull, { id: 70, login: 'octo', state: 'changes_requested', body: 'x' }),
      { kind: 'review', reviewId: '70', login: 'octo' },
    ],
    [
      'a review that comments',
      'pull_request_review',
      reviewSubmitted(pull, { id: 71, login: 'octo', state: 'commented', body: '' }),
      { kind: 'review', reviewId: '71' },
    ],
    [
      'a line comment, read as its review',
      'pull_request_review_comment',
      reviewCommentCreated(pull, comment),
      { kind: 'review', reviewId: '70', login: 'octo' },
    ],
    [
      'a mention',
      'issue_comment',
      pullCommentCreated(1, { id: 5, login: 'octo', body: 'Hey @cairn, fix the lint' }),
      { kind: 'mention', commentId: '5', body: 'Hey @cairn, fix the lint' },
    ],
    ['@cairn stop', 'issue_comment', pullCommentCreated(1, { id: 6, login: 'octo', body: '@cairn  STOP ' }), { kind: 'mention', command: 'stop' }],
    ['@cairn resume', 'issue_comment', pullCommentCreated(1, { id: 6, login: 'octo', body: '@Cairn resume' }), { kind: 'mention', command: 'resume' }],
    [
      'a failed check',
      'check_run',
      checkRunCompleted(pull, check),
      { kind: 'check', checkId: 'check-run:9', headSha: pull.head, name: 'test', conclusion: 'failure', report: 'test failed\n\nfailed\n\nlog' },
    ],
    ['a check out of time', 'check_run', checkRunCompleted(pull, { ...check, conclusion: 'timed_out' }), { kind: 'check', conclusion: 'timed_out' }],
  ])('%s', (_name, event, payload, expected) => {
    expect(pullRequestEventOf(event, payload, options)).toMatchObject(expected);
  });

  test.each([
    [
      'an approval',
      'pull_request_review',
      reviewSubmitted(pull, { id: 70, login: 'octo', state: 'approved', body: 'LGTM' }),
      'an approving review asks for no change',
    ],
    [
      'an edited comment',
      'issue_comment',
      { ...pullCommentCreated(1, { id: 5, login: 'octo', body: '@cairn x' }), action: 'edited' },
      'issue_comment edited asks for nothing (only created does)',
    ],
    [
      'a comment without the handle',
      'issue_comment',
      pullCommentCreated(1, { id: 5, login: 'octo', body: 'mail cairn@example.com or @cairnbot' }),
      'the comment does not mention @cairn',
    ],
    [
      'a comment on an issue',
      'issue_comment',
      { ...pullCommentCreated(1, { id: 5, login: 'octo', body: '@cairn x' }), issue: { number: 1 } },
      'the comment is on an issue, not a pull request',
    ],
    ['a passing check', 'check_run', checkRunCompleted(pull, { ...check, conclusion: 'success' }), 'the check concluded success, not failure or timed_out'],
    [
      'a check on no pull request',
      'check_run',
      (() => {
        const payload = checkRunCompleted(pull, check);
        return { ...payload, check_run: { ...payload.check_run, pull_requests: [] } };
      })(),
      'the check ran on no pull request of this repository',
    ],
    ['another event', 'push', {}, 'the push event asks nothing of the review loop'],
  ])('passes over %s, saying why', (_name, event, payload, reason) => {
    expect(pullRequestEventOf(event, payload, options)).toEqual({ kind: 'ignored', reason });
  });

  test('a failed workflow run, each of its attempts a feedback of its own', () => {
    const workflowRun = (attempt: number, conclusion: string) => ({
      action: 'completed',
      workflow_run: {
        id: 30433642,
        name: 'CI',
        head_branch: pull.branch,
        head_sha: pull.head,
        run_attempt: attempt,
        status: 'completed',
        conclusion,
        html_url: 'https://github.com/acme/app/actions/runs/30433642',
        pull_requests: [{ number: 1, head: { ref: pull.branch, sha: pull.head }, base: { ref: 'main' } }],
      },
      sender: { login: 'cairn-app[bot]' },
    });
    expect(pullRequestEventOf('workflow_run', workflowRun(2, 'failure'), options)).toMatchObject({
      kind: 'check',
      checkId: 'workflow-run:30433642:2',
      name: 'CI',
      conclusion: 'failure',
      report: '',
      // The run and its attempt, whose failed jobs' logs the loop reads (the event carries no report).
      workflowRun: { id: '30433642', attempt: 2 },
    });
    expect(pullRequestEventOf('workflow_run', workflowRun(1, 'cancelled'), options)).toEqual({
      kind: 'ignored',
      reason: 'the workflow concluded cancelled, not failure or timed_out',
    });
  });

  test('the stop label added or removed; another label is passed over', () => {
    const labelled = (name: string, action: string) => ({
      action,
      label: { name },
      pull_request: { number: 1, head: { ref: 'b', sha: 'c' } },
      sender: { login: 'octo' },
    });
    expect(pullRequestEventOf('pull_request', labelled('cairn:stop', 'labeled'), options)).toMatchObject({ kind: 'stop-label', added: true, login: 'octo' });
    expect(pullRequestEventOf('pull_request', labelled('cairn:stop', 'unlabeled'), options)).toMatchObject({ kind: 'stop-label', added: false });
    expect(pullRequestEventOf('pull_request', labelled('bug', 'labeled'), options)).toMatchObject({ kind: 'ignored' });
  });
});

test('a mention is the handle as a word: not in an address, another name or a longer handle', () => {
  expect(mentions('@cairn fix', '@cairn')).toBe(true);
  expect(mentions('please, @CAIRN.', '@cairn')).toBe(true);
  expect(mentions('me@cairn.dev', '@cairn')).toBe(false);
  expect(mentions('@cairn-bot fix', '@cairn')).toBe(false);
  expect(mentions('@cairnbot', '@cairn')).toBe(false);
});

test('bounded text keeps its head (feedback) or its tail (a log) within the bound, saying what was cut', () => {
  expect(boundedHead('short', 10)).toBe('short');
  const head = boundedHead('x'.repeat(100), 50);
  expect(head.length).toBeLessThanOrEqual(50);
  expect(head).toMatch(/^x+\n… \(\d+ more characters cut\)$/);
  const tail = boundedTail(`${'a'.repeat(100)}END`, 50);
  expect(tail.length).toBeLessThanOrEqual(50);
  expect(tail).toMatch(/^\(\d+ earlier characters cut\) …\na+END$/);
});
