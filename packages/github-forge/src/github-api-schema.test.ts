// The GitHub test endpoint refuses what GitHub's published OpenAPI description refuses, so a
// forge that sent a malformed request could not pass its tests against it, and answers only what
// the description allows for the operation and status, so a forge could not pass by reading an
// answer GitHub never gives. Sent through Octokit, the client library the forge itself uses.
import { generateKeyPairSync } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { afterAll, expect, test } from 'vitest';
import { startGitHubApiServer } from './github-api.test-support.ts';
import { githubResponseProblem } from './github-response-check.test-support.ts';

const token = `github_pat_${'s'.repeat(40)}`;
const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const api = await startGitHubApiServer({
  repositoryPath: (repository) => `/nonexistent/${repository}`,
  app: { id: 1, publicKey, installationId: 2 },
});
api.addToken(token, { write: true });
afterAll(() => api.close());
const octokit = new Octokit({ auth: token, baseUrl: api.url, request: { retries: 0 } });

/** The status and message GitHub's answer to a request would carry. */
async function refusal(request: Promise<unknown>): Promise<{ status: number; message: string }> {
  const error = (await request.then(
    () => undefined,
    (failure: unknown) => failure,
  )) as { status?: number; response?: { data?: { message?: string } } } | undefined;
  expect(error, 'the endpoint accepted a request GitHub refuses').toBeDefined();
  return { status: error!.status!, message: error!.response?.data?.message ?? '' };
}

test('a pull request whose title is not a string is refused 422, naming the field', async () => {
  const answer = await refusal(
    octokit.request('POST /repos/{owner}/{repo}/pulls', { owner: 'o', repo: 'r', title: 12 as unknown as string, head: 'a', base: 'main' }),
  );
  expect(answer).toEqual({ status: 422, message: "Invalid request.\n\nFor 'properties/title', 12 must be string." });
});

test('a comment without its body is refused 422, saying what was not supplied', async () => {
  const answer = await refusal(
    octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'o', repo: 'r', issue_number: 1 } as never),
  );
  expect(answer).toEqual({ status: 422, message: 'Invalid request.\n\n"body" wasn\'t supplied.' });
});

test('a reaction GitHub does not have, and a list filter outside its values, are refused 422', async () => {
  const reaction = await refusal(
    octokit.request('POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions', { owner: 'o', repo: 'r', comment_id: 1, content: 'thumbs' as never }),
  );
  expect(reaction.status).toBe(422);
  expect(reaction.message).toContain('For \'properties/content\', "thumbs" must be equal to one of the allowed values');
  const listed = await refusal(octokit.request('GET /repos/{owner}/{repo}/pulls', { owner: 'o', repo: 'r', state: 'merged' as never }));
  expect(listed).toEqual({ status: 422, message: 'Invalid request.\n\nFor \'state\', "merged" is not a valid value.' });
});

test('an operation GitHub does not have is 404, and a well-formed request goes on to its route', async () => {
  expect((await refusal(octokit.request('PUT /repos/{owner}/{repo}/pulls', { owner: 'o', repo: 'r' }))).status).toBe(404);
  // Well-formed: past the schema check, the route answers (the pull request does not exist).
  const missing = await refusal(octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'o', repo: 'r', pull_number: 7 }));
  expect(missing).toEqual({ status: 404, message: 'Not Found' });
  expect(api.requests).toContain('GET /repos/o/r/pulls/7');
});

test("every answer is checked against the operation's response schema: one that drifted fails the request that got it", async () => {
  const { id } = api.addReview('o/r', 1, { login: 'octocat', state: 'COMMENTED', body: 'x', comments: [] });
  // No pull request 1 yet: the 404 GitHub answers is itself checked (basic-error), and passes.
  expect(
    (
      await refusal(
        octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}', { owner: 'o', repo: 'r', pull_number: 1, review_id: id }),
      )
    ).status,
  ).toBe(404);
  api.alterNextAnswer((body) => ({ ...(body as object), message: 42 }));
  const drifted = await refusal(octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'o', repo: 'r', pull_number: 9 }));
  expect(drifted).toEqual({
    status: 500,
    message:
      "The GitHub test endpoint answered what GitHub's description does not allow (GET /repos/{owner}/{repo}/pulls/{pull_number} 404: /message must be string)",
  });
  expect(api.drifts).toEqual(['GET /repos/{owner}/{repo}/pulls/{pull_number} 404: /message must be string']);
  expect(githubResponseProblem('GET', '/repos/o/r/pulls/9', 200, { number: 9, state: 'merged' })).toBe(
    'GET /repos/{owner}/{repo}/pulls/{pull_number} 200: the body must have _links',
  );
  expect(
    githubResponseProblem('POST', '/repos/o/r/issues/comments/1/reactions', 201, { id: 1, node_id: 'R', user: null, content: 'thumbs', created_at: '' }),
  ).toMatch(/^POST \/repos\/\{owner\}\/\{repo\}\/issues\/comments\/\{comment_id\}\/reactions 201: \/content must be equal to one of the allowed values/);
});
