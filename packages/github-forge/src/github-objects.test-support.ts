// The objects GitHub's REST answers and webhook payloads are made of (a user, a repository, a pull
// request, an issue, a label), whole: every field `@octokit/openapi` and `@octokit/openapi-webhooks`
// require, in the shape and with the addresses GitHub's documented examples carry. The test
// endpoint answers with them and the server's delivery builders compose them; both are checked
// against the descriptions (github-response-check.test-support.ts, the server's github-webhook-schema.test-support.ts).

const api = 'https://api.github.com';
const web = 'https://github.com';
const time = '2019-05-15T15:20:18Z';

/** A user or bot as a payload names it (`sender`, `user`, `owner`). */
export function githubUser(login: string, options: { readonly id?: number; readonly type?: 'User' | 'Bot' | 'Organization' } = {}) {
  const url = `${api}/users/${encodeURIComponent(login)}`;
  return {
    login,
    id: options.id ?? 21031067,
    node_id: 'MDQ6VXNlcjIxMDMxMDY3',
    avatar_url: 'https://avatars1.githubusercontent.com/u/21031067?v=4',
    gravatar_id: '',
    url,
    html_url: `${web}/${encodeURIComponent(login)}`,
    followers_url: `${url}/followers`,
    following_url: `${url}/following{/other_user}`,
    gists_url: `${url}/gists{/gist_id}`,
    starred_url: `${url}/starred{/owner}{/repo}`,
    subscriptions_url: `${url}/subscriptions`,
    organizations_url: `${url}/orgs`,
    repos_url: `${url}/repos`,
    events_url: `${url}/events{/privacy}`,
    received_events_url: `${url}/received_events`,
    type: options.type ?? (login.endsWith('[bot]') ? 'Bot' : 'User'),
    site_admin: false,
  };
}

/** Repository `owner/name` as a payload's `repository`, `head.repo` or `base.repo` carries it. */
export function githubRepository(fullName: string, options: { readonly id?: number; readonly private?: boolean; readonly defaultBranch?: string } = {}) {
  const [owner, name] = fullName.split('/') as [string, string];
  const url = `${api}/repos/${fullName}`;
  const templated = (path: string) => `${url}/${path}`;
  return {
    id: options.id ?? 186853002,
    node_id: 'MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=',
    name,
    full_name: fullName,
    private: options.private ?? false,
    owner: githubUser(owner, { type: 'Organization', id: 9919 }),
    html_url: `${web}/${fullName}`,
    description: null,
    fork: false,
    url,
    forks_url: templated('forks'),
    keys_url: templated('keys{/key_id}'),
    collaborators_url: templated('collaborators{/collaborator}'),
    teams_url: templated('teams'),
    hooks_url: templated('hooks'),
    issue_events_url: templated('issues/events{/number}'),
    events_url: templated('events'),
    assignees_url: templated('assignees{/user}'),
    branches_url: templated('branches{/branch}'),
    tags_url: templated('tags'),
    blobs_url: templated('git/blobs{/sha}'),
    git_tags_url: templated('git/tags{/sha}'),
    git_refs_url: templated('git/refs{/sha}'),
    trees_url: templated('git/trees{/sha}'),
    statuses_url: templated('statuses/{sha}'),
    languages_url: templated('languages'),
    stargazers_url: templated('stargazers'),
    contributors_url: templated('contributors'),
    subscribers_url: templated('subscribers'),
    subscription_url: templated('subscription'),
    commits_url: templated('commits{/sha}'),
    git_commits_url: templated('git/commits{/sha}'),
    comments_url: templated('comments{/number}'),
    issue_comment_url: templated('issues/comments{/number}'),
    contents_url: templated('contents/{+path}'),
    compare_url: templated('compare/{base}...{head}'),
    merges_url: templated('merges'),
    archive_url: templated('{archive_format}{/ref}'),
    downloads_url: templated('downloads'),
    issues_url: templated('issues{/number}'),
    pulls_url: templated('pulls{/number}'),
    milestones_url: templated('milestones{/number}'),
    notifications_url: templated('notifications{?since,all,participating}'),
    labels_url: templated('labels{/name}'),
    releases_url: templated('releases{/id}'),
    deployments_url: templated('deployments'),
    created_at: time,
    updated_at: time,
    pushed_at: time,
    git_url: `git://github.com/${fullName}.git`,
    ssh_url: `git@github.com:${fullName}.git`,
    clone_url: `${web}/${fullName}.git`,
    svn_url: `${web}/${fullName}`,
    homepage: null,
    size: 0,
    stargazers_count: 0,
    watchers_count: 0,
    language: null,
    has_issues: true,
    has_projects: true,
    has_downloads: true,
    has_wiki: true,
    has_pages: false,
    has_discussions: false,
    forks_count: 0,
    mirror_url: null,
    archived: false,
    disabled: false,
    open_issues_count: 1,
    license: null,
    forks: 0,
    open_issues: 1,
    watchers: 0,
    default_branch: options.defaultBranch ?? 'main',
    topics: [],
    visibility: options.private ? 'private' : 'public',
  };
}

/** A label of `owner/name`. */
export function githubLabel(fullName: string, name: string, id = 1362934389) {
  return {
    id,
    node_id: 'MDU6TGFiZWwxMzYyOTM0Mzg5',
    url: `${api}/repos/${fullName}/labels/${encodeURIComponent(name)}`,
    name,
    description: null,
    color: 'd73a4a',
    default: false,
  };
}

/** No reactions yet, at `url`. */
export function noReactions(url: string) {
  return { url: `${url}/reactions`, total_count: 0, '+1': 0, '-1': 0, laugh: 0, hooray: 0, confused: 0, heart: 0, rocket: 0, eyes: 0 };
}

/** Issue `number` of `owner/name`; a pull request's conversation when `pull` (its issue carries `pull_request`, never the head branch). */
export function githubIssue(
  fullName: string,
  issue: {
    readonly number: number;
    readonly title: string;
    readonly body: string | null;
    readonly login: string;
    readonly labels?: readonly string[];
    readonly htmlUrl?: string;
    readonly pull?: boolean;
  },
) {
  const url = `${api}/repos/${fullName}/issues/${issue.number}`;
  const pulls = `${api}/repos/${fullName}/pulls/${issue.number}`;
  const html = `${web}/${fullName}/pull/${issue.number}`;
  return {
    url,
    repository_url: `${api}/repos/${fullName}`,
    labels_url: `${url}/labels{/name}`,
    comments_url: `${url}/comments`,
    events_url: `${url}/events`,
    html_url: issue.htmlUrl ?? (issue.pull ? html : `${web}/${fullName}/issues/${issue.number}`),
    id: 444500041,
    node_id: 'MDU6SXNzdWU0NDQ1MDAwNDE=',
    number: issue.number,
    title: issue.title,
    user: githubUser(issue.login),
    labels: (issue.labels ?? []).map((name, index) => githubLabel(fullName, name, 1362934389 + index)),
    state: 'open',
    locked: false,
    assignee: null,
    assignees: [],
    milestone: null,
    comments: 0,
    created_at: time,
    updated_at: time,
    closed_at: null,
    author_association: 'OWNER',
    active_lock_reason: null,
    body: issue.body,
    reactions: noReactions(url),
    ...(issue.pull ? { pull_request: { url: pulls, html_url: html, diff_url: `${html}.diff`, patch_url: `${html}.patch`, merged_at: null } } : {}),
  };
}

/** Pull request `number` of `owner/name` from `branch` (at `head`) into `base`, as a payload's `pull_request`. */
export function githubPullRequest(
  fullName: string,
  pull: {
    readonly number: number;
    readonly branch: string;
    readonly head: string;
    readonly base?: string;
    readonly labels?: readonly string[];
    readonly state?: 'open' | 'closed';
    readonly title?: string;
    readonly body?: string | null;
  },
) {
  const [owner] = fullName.split('/') as [string];
  const url = `${api}/repos/${fullName}/pulls/${pull.number}`;
  const html = `${web}/${fullName}/pull/${pull.number}`;
  const issue = `${api}/repos/${fullName}/issues/${pull.number}`;
  const repository = githubRepository(fullName);
  const base = pull.base ?? 'main';
  return {
    url,
    id: 279147437,
    node_id: 'MDExOlB1bGxSZXF1ZXN0Mjc5MTQ3NDM3',
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    issue_url: issue,
    number: pull.number,
    state: pull.state ?? 'open',
    locked: false,
    title: pull.title ?? 'Fix #1: Spelling error in the README file',
    user: githubUser('cairn-app[bot]', { id: 41898282, type: 'Bot' }),
    body: pull.body === undefined ? 'Made by Cairn.' : pull.body,
    created_at: time,
    updated_at: time,
    closed_at: null,
    merged_at: null,
    merge_commit_sha: null,
    assignee: null,
    assignees: [],
    requested_reviewers: [],
    requested_teams: [],
    labels: (pull.labels ?? []).map((name, index) => githubLabel(fullName, name, 1362934389 + index)),
    milestone: null,
    draft: false,
    merged: false,
    mergeable: true,
    rebaseable: true,
    mergeable_state: 'clean',
    merged_by: null,
    comments: 0,
    review_comments: 0,
    maintainer_can_modify: false,
    commits: 1,
    additions: 1,
    deletions: 1,
    changed_files: 1,
    commits_url: `${url}/commits`,
    review_comments_url: `${url}/comments`,
    review_comment_url: `${api}/repos/${fullName}/pulls/comments{/number}`,
    comments_url: `${issue}/comments`,
    statuses_url: `${api}/repos/${fullName}/statuses/${pull.head}`,
    head: { label: `${owner}:${pull.branch}`, ref: pull.branch, sha: pull.head, user: repository.owner, repo: repository },
    base: { label: `${owner}:${base}`, ref: base, sha: '0'.repeat(40), user: repository.owner, repo: repository },
    _links: {
      self: { href: url },
      html: { href: html },
      issue: { href: issue },
      comments: { href: `${issue}/comments` },
      review_comments: { href: `${url}/comments` },
      review_comment: { href: `${api}/repos/${fullName}/pulls/comments{/number}` },
      commits: { href: `${url}/commits` },
      statuses: { href: `${api}/repos/${fullName}/statuses/${pull.head}` },
    },
    author_association: 'NONE',
    auto_merge: null,
    active_lock_reason: null,
  };
}

/** A pull request as a check run's or workflow run's `pull_requests` lists it (a short form). */
export function githubPullReference(
  fullName: string,
  pull: { readonly number: number; readonly branch: string; readonly head: string; readonly base?: string },
) {
  const repo = { id: 186853002, url: `${api}/repos/${fullName}`, name: fullName.split('/')[1]! };
  return {
    url: `${api}/repos/${fullName}/pulls/${pull.number}`,
    id: 279147437,
    number: pull.number,
    head: { ref: pull.branch, sha: pull.head, repo },
    base: { ref: pull.base ?? 'main', sha: '0'.repeat(40), repo },
  };
}

/** The GitHub App that reports GitHub Actions' check runs. */
export const githubActionsApp = {
  id: 15368,
  slug: 'github-actions',
  node_id: 'MDM6QXBwMTUzNjg=',
  owner: githubUser('github', { id: 9919, type: 'Organization' }),
  name: 'GitHub Actions',
  description: 'Automate your workflow from idea to production',
  external_url: 'https://help.github.com/en/actions',
  html_url: 'https://github.com/apps/github-actions',
  created_at: '2018-07-30T09:30:17Z',
  updated_at: '2019-12-10T19:04:12Z',
  permissions: { actions: 'write', checks: 'write', contents: 'write', metadata: 'read', pull_requests: 'write' },
  events: ['check_run', 'check_suite', 'pull_request', 'push', 'workflow_dispatch'],
};
