// GitHub's documented payloads for the events the review loop reads (docs.github.com, "Webhook
// events and payloads": pull_request_review, pull_request_review_comment, issue_comment on a pull
// request, check_run, workflow_run, pull_request labeled), whole (every field GitHub's webhooks
// description requires: each delivery a test sends is checked against it), on the repository acme/app.
import { installation } from '../github-deliveries.test-support.ts';
import {
  githubActionsApp,
  githubIssue,
  githubLabel,
  githubPullReference,
  githubPullRequest,
  githubRepository,
  githubUser,
  noReactions,
} from '../../../../../../packages/github-forge/src/github-objects.test-support.ts';

export const acmeApp = githubRepository('acme/app', { private: true });

const userOf = (login: string) => githubUser(login);

/** The pull request as a payload carries it: number, branch and head commit, base, labels. */
export interface PullAt {
  readonly number: number;
  readonly branch: string;
  readonly head: string;
  readonly base?: string;
  readonly labels?: readonly string[];
  readonly state?: 'open' | 'closed';
}

const pullRequest = (pull: PullAt) => githubPullRequest('acme/app', pull);

/** `pull_request_review` `submitted`: `login` submitted review `reviewId` (`commented`, `changes_requested`, `approved`). */
export function reviewSubmitted(pull: PullAt, review: { readonly id: number; readonly login: string; readonly state: string; readonly body: string }) {
  return {
    action: 'submitted',
    review: {
      id: review.id,
      node_id: 'MDE3OlB1bGxSZXF1ZXN0UmV2aWV3MjM3ODk1Njcx',
      user: userOf(review.login),
      body: review.body,
      commit_id: pull.head,
      submitted_at: '2019-05-15T15:20:38Z',
      state: review.state,
      html_url: `https://github.com/acme/app/pull/${pull.number}#pullrequestreview-${review.id}`,
      pull_request_url: `https://api.github.com/repos/acme/app/pulls/${pull.number}`,
      author_association: 'OWNER',
      _links: {
        html: { href: `https://github.com/acme/app/pull/${pull.number}#pullrequestreview-${review.id}` },
        pull_request: { href: `https://api.github.com/repos/acme/app/pulls/${pull.number}` },
      },
    },
    pull_request: pullRequest(pull),
    repository: acmeApp,
    sender: userOf(review.login),
    installation,
  };
}

/** `pull_request_review_comment` `created`: `login`'s line comment `id`, part of review `reviewId`. */
export function reviewCommentCreated(
  pull: PullAt,
  comment: {
    readonly id: number;
    readonly reviewId: number;
    readonly login: string;
    readonly path: string;
    readonly line: number;
    readonly body: string;
    readonly diffHunk: string;
  },
) {
  return {
    action: 'created',
    comment: {
      url: `https://api.github.com/repos/acme/app/pulls/comments/${comment.id}`,
      pull_request_review_id: comment.reviewId,
      id: comment.id,
      node_id: 'MDI0OlB1bGxSZXF1ZXN0UmV2aWV3Q29tbWVudDI4NDMxMjYzMA==',
      diff_hunk: comment.diffHunk,
      path: comment.path,
      position: 1,
      original_position: 1,
      commit_id: pull.head,
      original_commit_id: pull.head,
      user: userOf(comment.login),
      body: comment.body,
      created_at: '2019-05-15T15:20:37Z',
      updated_at: '2019-05-15T15:20:38Z',
      html_url: `https://github.com/acme/app/pull/${pull.number}#discussion_r${comment.id}`,
      pull_request_url: `https://api.github.com/repos/acme/app/pulls/${pull.number}`,
      author_association: 'OWNER',
      _links: {
        self: { href: `https://api.github.com/repos/acme/app/pulls/comments/${comment.id}` },
        html: { href: `https://github.com/acme/app/pull/${pull.number}#discussion_r${comment.id}` },
        pull_request: { href: `https://api.github.com/repos/acme/app/pulls/${pull.number}` },
      },
      start_line: null,
      original_start_line: null,
      start_side: null,
      line: comment.line,
      original_line: comment.line,
      side: 'RIGHT',
      reactions: noReactions(`https://api.github.com/repos/acme/app/pulls/comments/${comment.id}`),
    },
    pull_request: pullRequest(pull),
    repository: acmeApp,
    sender: userOf(comment.login),
    installation,
  };
}

/** `issue_comment` `created` on pull request `number` (its issue carries `pull_request`, never the head branch). */
export function pullCommentCreated(number: number, comment: { readonly id: number; readonly login: string; readonly body: string }) {
  return {
    action: 'created',
    issue: githubIssue('acme/app', {
      number,
      title: 'Fix #1: Spelling error in the README file',
      body: 'Made by Cairn.',
      login: 'cairn-app[bot]',
      pull: true,
    }),
    comment: {
      url: `https://api.github.com/repos/acme/app/issues/comments/${comment.id}`,
      html_url: `https://github.com/acme/app/pull/${number}#issuecomment-${comment.id}`,
      issue_url: `https://api.github.com/repos/acme/app/issues/${number}`,
      id: comment.id,
      node_id: 'MDEyOklzc3VlQ29tbWVudDQ5MjcwMDQwMA==',
      user: userOf(comment.login),
      created_at: '2019-05-15T15:20:21Z',
      updated_at: '2019-05-15T15:20:21Z',
      author_association: 'OWNER',
      performed_via_github_app: null,
      body: comment.body,
      reactions: noReactions(`https://api.github.com/repos/acme/app/issues/comments/${comment.id}`),
    },
    repository: acmeApp,
    sender: userOf(comment.login),
    installation,
  };
}

/** `check_run` `completed` on `headSha`, reported on pull request `pull`. */
export function checkRunCompleted(
  pull: PullAt,
  check: { readonly id: number; readonly name: string; readonly headSha: string; readonly conclusion: string; readonly summary: string; readonly text: string },
) {
  return {
    action: 'completed',
    check_run: {
      id: check.id,
      node_id: 'MDg6Q2hlY2tSdW4xMjg2MjA3Mjg=',
      head_sha: check.headSha,
      external_id: '',
      url: `https://api.github.com/repos/acme/app/check-runs/${check.id}`,
      html_url: `https://github.com/acme/app/runs/${check.id}`,
      details_url: `https://github.com/acme/app/runs/${check.id}`,
      status: 'completed',
      conclusion: check.conclusion,
      started_at: '2019-05-15T15:21:12Z',
      completed_at: '2019-05-15T15:21:45Z',
      output: {
        title: `${check.name} failed`,
        summary: check.summary,
        text: check.text,
        annotations_count: 0,
        annotations_url: `https://api.github.com/repos/acme/app/check-runs/${check.id}/annotations`,
      },
      name: check.name,
      check_suite: { id: 118578147, head_branch: pull.branch, head_sha: check.headSha, status: 'completed', conclusion: check.conclusion },
      app: githubActionsApp,
      pull_requests: [githubPullReference('acme/app', pull)],
    },
    repository: acmeApp,
    sender: githubUser('github-actions[bot]', { id: 41898282, type: 'Bot' }),
    installation,
  };
}

/** `workflow_run` `completed`: run `id` (attempt `attempt`) of the workflow `name` on `headSha`, reported on pull request `pull`. */
export function workflowRunCompleted(
  pull: PullAt,
  run: { readonly id: number; readonly attempt?: number; readonly name: string; readonly headSha: string; readonly conclusion: string },
) {
  const url = `https://api.github.com/repos/acme/app/actions/runs/${run.id}`;
  const workflow = {
    id: 161335,
    node_id: 'MDg6V29ya2Zsb3cxNjEzMzU=',
    name: run.name,
    path: '.github/workflows/ci.yml',
    state: 'active',
    created_at: '2020-07-29T09:57:33.000Z',
    updated_at: '2020-07-29T09:57:33.000Z',
    url: 'https://api.github.com/repos/acme/app/actions/workflows/161335',
    html_url: 'https://github.com/acme/app/blob/main/.github/workflows/ci.yml',
    badge_url: 'https://github.com/acme/app/workflows/CI/badge.svg',
  };
  const attempt = run.attempt ?? 1;
  return {
    action: 'completed',
    workflow,
    workflow_run: {
      id: run.id,
      name: run.name,
      node_id: 'MDEyOldvcmtmbG93IFJ1bjI2OTI4OQ==',
      head_branch: pull.branch,
      head_sha: run.headSha,
      path: '.github/workflows/ci.yml',
      display_title: 'CI',
      run_number: 562,
      run_attempt: attempt,
      event: 'pull_request',
      status: 'completed',
      conclusion: run.conclusion,
      workflow_id: workflow.id,
      check_suite_id: 118578147,
      check_suite_node_id: 'MDEwOkNoZWNrU3VpdGUxMTg1NzgxNDc=',
      check_suite_url: 'https://api.github.com/repos/acme/app/check-suites/118578147',
      url,
      html_url: `https://github.com/acme/app/actions/runs/${run.id}`,
      jobs_url: `${url}/jobs`,
      logs_url: `${url}/logs`,
      artifacts_url: `${url}/artifacts`,
      cancel_url: `${url}/cancel`,
      rerun_url: `${url}/rerun`,
      previous_attempt_url: attempt > 1 ? `${url}/attempts/${attempt - 1}` : null,
      workflow_url: workflow.url,
      pull_requests: [githubPullReference('acme/app', pull)],
      created_at: '2019-05-15T15:21:12Z',
      updated_at: '2019-05-15T15:22:45Z',
      run_started_at: '2019-05-15T15:21:12Z',
      actor: userOf('Codertocat'),
      triggering_actor: userOf('Codertocat'),
      head_commit: {
        id: run.headSha,
        tree_id: '31b122c26a97cf9af023e9ddab94a82c6e77b0ea',
        message: 'Fix #1',
        timestamp: '2019-05-15T15:20:30Z',
        author: { name: 'Cairn', email: 'cairn@example.com' },
        committer: { name: 'Cairn', email: 'cairn@example.com' },
      },
      repository: acmeApp,
      head_repository: acmeApp,
    },
    repository: acmeApp,
    sender: userOf('Codertocat'),
    installation,
  };
}

/** `pull_request` `labeled` or `unlabeled`: `login` added or removed `label` on pull request `pull`. */
export function pullRequestLabelled(pull: PullAt, change: { readonly action: 'labeled' | 'unlabeled'; readonly label: string; readonly login: string }) {
  const label = githubLabel('acme/app', change.label, 1362934390);
  const labels = change.action === 'labeled' ? [...(pull.labels ?? []), change.label] : (pull.labels ?? []).filter((name) => name !== change.label);
  return {
    action: change.action,
    number: pull.number,
    label,
    pull_request: pullRequest({ ...pull, labels }),
    repository: acmeApp,
    sender: userOf(change.login),
    installation,
  };
}
