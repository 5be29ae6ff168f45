import { createHmac } from 'node:crypto';

import { assertGitHubWebhook } from './github-webhook-schema.test-support.ts';
import { githubIssue, githubLabel, githubRepository, githubUser, noReactions } from '../../../../../packages/github-forge/src/github-objects.test-support.ts';

// GitHub's documented example payloads for `issues` (action `labeled`) and `issue_comment` (action
// `created`) on Codertocat/Hello-World, whole (every field GitHub's webhooks description requires),
// in their real shape (docs.github.com, "Webhook events and payloads").
const repository = githubRepository('Codertocat/Hello-World', { defaultBranch: 'master' });
const bug = { ...githubLabel('Codertocat/Hello-World', 'bug'), default: true };
const issue = {
  ...githubIssue('Codertocat/Hello-World', {
    number: 1,
    title: 'Spelling error in the README file',
    login: 'Codertocat',
    body: "It looks like you accidently spelled 'commit' with two 't's.",
  }),
  labels: [bug],
};

/** The App installation a GitHub App's deliveries name (repository webhooks name none). */
export const installation = { id: 2311213, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw==' };

/** `issues` `labeled`: `login` added `label` to issue 1. */
export function issueLabeled(options: { readonly label?: string; readonly login?: string } = {}) {
  const label = { ...githubLabel('Codertocat/Hello-World', options.label ?? 'bug'), default: options.label === undefined };
  return {
    action: 'labeled',
    issue: { ...issue, labels: [label] },
    label,
    repository,
    sender: githubUser(options.login ?? 'Codertocat'),
    installation,
  };
}

/** `issue_comment` `created`: `login` commented `body` on issue 1 (whose body may be replaced). */
export function issueCommentCreated(body: string, options: { readonly login?: string; readonly issueBody?: string } = {}) {
  const user = githubUser(options.login ?? 'Codertocat');
  return {
    action: 'created',
    issue: { ...issue, ...(options.issueBody === undefined ? {} : { body: options.issueBody }) },
    comment: {
      url: 'https://api.github.com/repos/Codertocat/Hello-World/issues/comments/492700400',
      html_url: 'https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400',
      issue_url: 'https://api.github.com/repos/Codertocat/Hello-World/issues/1',
      id: 492700400,
      node_id: 'MDEyOklzc3VlQ29tbWVudDQ5MjcwMDQwMA==',
      user,
      created_at: '2019-05-15T15:20:21Z',
      updated_at: '2019-05-15T15:20:21Z',
      author_association: 'OWNER',
      performed_via_github_app: null,
      body,
      reactions: noReactions('https://api.github.com/repos/Codertocat/Hello-World/issues/comments/492700400'),
    },
    repository,
    sender: user,
    installation,
  };
}

/**
 * The request GitHub sends for `payload`: the JSON body and its headers, signed as GitHub signs
 * (X-Hub-Signature-256: sha256= and the hex HMAC-SHA256 of the exact body with the secret). The
 * payload is first checked against GitHub's webhooks description (it throws, with the schema's
 * message, on one GitHub never sends), unless `unchecked` says why a test sends such a one.
 */
export function githubDelivery(
  event: string,
  payload: unknown,
  options: { readonly secret?: string; readonly deliveryId?: string; readonly unsigned?: boolean; readonly unchecked?: string } = {},
) {
  if (options.unchecked === undefined) assertGitHubWebhook(event, payload);
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
