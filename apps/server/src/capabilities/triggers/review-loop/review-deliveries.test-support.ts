// GitHub's documented payloads for the events the review loop reads (docs.github.com, "Webhook
// events and payloads": pull_request_review, pull_request_review_comment, issue_comment on a pull
// request, check_run, pull_request labeled), reduced to the fields around those it reads, in their
// real shape, on the repository acme/app.
import { installation } from '../github-deliveries.test-support.ts';

const owner = { login: 'acme', id: 9919, node_id: 'O_kgDOAAAmvw', type: 'Organization', site_admin: false };
export const acmeApp = {
  id: 186853002,
  node_id: 'MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=',
  name: 'app',
  full_name: 'acme/app',
  private: true,
  owner,
  html_url: 'https://github.com/acme/app',
  default_branch: 'main',
};

const userOf = (login: string) => ({ login, id: 21031067, node_id: 'MDQ6VXNlcjIxMDMxMDY3', type: 'User', site_admin: false });

/** The pull request as a payload carries it: number, branch and head commit, base, labels. */
export interface PullAt {
  readonly number: number;
  readonly branch: string;
  readonly head: string;
  readonly base?: string;
  readonly labels?: readonly string[];
}

function pullRequest(pull: PullAt) {
  return {
    url: `https://api.github.com/repos/acme/app/pulls/${pull.number}`,
    id: 279147437,
    node_id: 'MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3',
    html_url: `https://github.com/acme/app/pull/${pull.number}`,
    number: pull.number,
    state: 'open',
    locked: false,
    title: 'Fix #1: Spelling error in the README file',
    user: { login: 'cairn-app[bot]', id: 41898282, type: 'Bot', site_admin: false },
    body: 'Made by Cairn.',
    labels: (pull.labels ?? []).map((name, index) => ({ id: 1362934389 + index, name, color: 'd73a4a', default: false })),
    head: { label: `acme:${pull.branch}`, ref: pull.branch, sha: pull.head, user: owner, repo: acmeApp },
    base: { label: `acme:${pull.base ?? 'main'}`, ref: pull.base ?? 'main', sha: '0'.repeat(40), user: owner, repo: acmeApp },
    author_association: 'NONE',
    draft: false,
  };
}

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
      line: comment.line,
      side: 'RIGHT',
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
    issue: {
      url: `https://api.github.com/repos/acme/app/issues/${number}`,
      html_url: `https://github.com/acme/app/pull/${number}`,
      id: 444500041,
      node_id: 'MDU6SXNzdWU0NDQ1MDAwNDE=',
      number,
      title: 'Fix #1: Spelling error in the README file',
      user: { login: 'cairn-app[bot]', id: 41898282, type: 'Bot', site_admin: false },
      labels: [],
      state: 'open',
      locked: false,
      comments: 1,
      author_association: 'NONE',
      body: 'Made by Cairn.',
      pull_request: {
        url: `https://api.github.com/repos/acme/app/pulls/${number}`,
        html_url: `https://github.com/acme/app/pull/${number}`,
        diff_url: `https://github.com/acme/app/pull/${number}.diff`,
        patch_url: `https://github.com/acme/app/pull/${number}.patch`,
      },
    },
    comment: {
      url: `https://api.github.com/repos/acme/app/issues/comments/${comment.id}`,
      html_url: `https://github.com/acme/app/pull/${number}#issuecomment-${comment.id}`,
      id: comment.id,
      node_id: 'MDEyOklzc3VlQ29tbWVudDQ5MjcwMDQwMA==',
      user: userOf(comment.login),
      created_at: '2019-05-15T15:20:21Z',
      updated_at: '2019-05-15T15:20:21Z',
      author_association: 'OWNER',
      body: comment.body,
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
      status: 'completed',
      conclusion: check.conclusion,
      started_at: '2019-05-15T15:21:12Z',
      completed_at: '2019-05-15T15:21:45Z',
      output: { title: `${check.name} failed`, summary: check.summary, text: check.text, annotations_count: 0 },
      name: check.name,
      check_suite: { id: 118578147, head_branch: pull.branch, head_sha: check.headSha, status: 'completed', conclusion: check.conclusion },
      app: { id: 15368, slug: 'github-actions', name: 'GitHub Actions' },
      pull_requests: [
        {
          url: `https://api.github.com/repos/acme/app/pulls/${pull.number}`,
          id: 279147437,
          number: pull.number,
          head: { ref: pull.branch, sha: pull.head, repo: { id: acmeApp.id, url: 'https://api.github.com/repos/acme/app', name: 'app' } },
          base: { ref: pull.base ?? 'main', sha: '0'.repeat(40), repo: { id: acmeApp.id, url: 'https://api.github.com/repos/acme/app', name: 'app' } },
        },
      ],
    },
    repository: acmeApp,
    sender: { login: 'github-actions[bot]', id: 41898282, type: 'Bot', site_admin: false },
    installation,
  };
}
