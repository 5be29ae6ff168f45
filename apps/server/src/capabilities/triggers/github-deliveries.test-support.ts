import { createHmac } from 'node:crypto';

// GitHub's documented example payloads for `issues` (action `labeled`) and `issue_comment` (action
// `created`) on Codertocat/Hello-World, reduced to the fields the trigger reads and a few around
// them, in their real shape (docs.github.com, "Webhook events and payloads").
const codertocat = { login: 'Codertocat', id: 21031067, node_id: 'MDQ6VXNlcjIxMDMxMDY3', type: 'User', site_admin: false };
const repository = {
  id: 186853002,
  node_id: 'MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=',
  name: 'Hello-World',
  full_name: 'Codertocat/Hello-World',
  private: false,
  owner: codertocat,
  html_url: 'https://github.com/Codertocat/Hello-World',
  default_branch: 'master',
};
const bug = {
  id: 1362934389,
  node_id: 'MDU6TGFiZWwxMzYyOTM0Mzg5',
  url: 'https://api.github.com/repos/Codertocat/Hello-World/labels/bug',
  name: 'bug',
  color: 'd73a4a',
  default: true,
};
const issue = {
  url: 'https://api.github.com/repos/Codertocat/Hello-World/issues/1',
  html_url: 'https://github.com/Codertocat/Hello-World/issues/1',
  id: 444500041,
  node_id: 'MDU6SXNzdWU0NDQ1MDAwNDE=',
  number: 1,
  title: 'Spelling error in the README file',
  user: codertocat,
  labels: [bug],
  state: 'open',
  locked: false,
  comments: 0,
  created_at: '2019-05-15T15:20:18Z',
  updated_at: '2019-05-15T15:20:18Z',
  author_association: 'OWNER',
  body: "It looks like you accidently spelled 'commit' with two 't's.",
};

/** The App installation a GitHub App's deliveries name (repository webhooks name none). */
export const installation = { id: 2311213, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw==' };

/** `issues` `labeled`: `login` added `label` to issue 1. */
export function issueLabeled(options: { readonly label?: string; readonly login?: string } = {}) {
  const label = { ...bug, name: options.label ?? 'bug' };
  return {
    action: 'labeled',
    issue: { ...issue, labels: [label] },
    label,
    repository,
    sender: { ...codertocat, login: options.login ?? 'Codertocat' },
    installation,
  };
}

/** `issue_comment` `created`: `login` commented `body` on issue 1 (whose body may be replaced). */
export function issueCommentCreated(body: string, options: { readonly login?: string; readonly issueBody?: string } = {}) {
  const user = { ...codertocat, login: options.login ?? 'Codertocat' };
  return {
    action: 'created',
    issue: { ...issue, ...(options.issueBody === undefined ? {} : { body: options.issueBody }) },
    comment: {
      url: 'https://api.github.com/repos/Codertocat/Hello-World/issues/comments/492700400',
      html_url: 'https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400',
      id: 492700400,
      node_id: 'MDEyOklzc3VlQ29tbWVudDQ5MjcwMDQwMA==',
      user,
      created_at: '2019-05-15T15:20:21Z',
      updated_at: '2019-05-15T15:20:21Z',
      author_association: 'OWNER',
      body,
    },
    repository,
    sender: user,
    installation,
  };
}

/**
 * The request GitHub sends for `payload`: the JSON body and its headers, signed as GitHub signs
 * (X-Hub-Signature-256: sha256= and the hex HMAC-SHA256 of the exact body with the secret).
 */
export function githubDelivery(
  event: string,
  payload: unknown,
  options: { readonly secret?: string; readonly deliveryId?: string; readonly unsigned?: boolean } = {},
) {
  const body = JSON.stringify(payload);
  const signature = `sha256=${createHmac('sha256', options.secret ?? '')
    .update(body)
    .digest('hex')}`;
  return {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/044aadd',
      'x-github-event': event,
      'x-github-delivery': options.deliveryId ?? crypto.randomUUID(),
      'x-github-hook-id': '292430182',
      ...(options.unsigned ? {} : { 'x-hub-signature-256': signature }),
    },
  } satisfies RequestInit;
}
