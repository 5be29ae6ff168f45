import { execFile } from 'node:child_process';
import { randomBytes, verify, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { ActionsRoutes, type TestJob } from './github-api-actions.test-support.ts';
import { documentation, HttpFailure, notFound, send, validation, type RouteAnswer } from './github-api-answers.test-support.ts';
import { githubPullRequest, githubUser, noReactions } from './github-objects.test-support.ts';
import { reviewCommentsJson, reviewJson, type StoredReview, type TestReview } from './github-api-reviews.test-support.ts';
import { githubRequestCheck } from './github-openapi.test-support.ts';
import { githubResponseProblem } from './github-response-check.test-support.ts';

const run = promisify(execFile);

/**
 * A GitHub REST API test endpoint on loopback with only the routes the GitHub forge uses, answering
 * as GitHub's REST reference documents them (status codes, `{ message, errors, documentation_url }`
 * bodies): app installation tokens (the app's RS256 JWT verified), pulls list/create/update/get,
 * issue comments, and a user's permission on a repository. Pull requests are kept in memory; their
 * head commits are read from the served git repositories, as GitHub follows a pushed branch.
 * Every request is first checked against GitHub's published OpenAPI description of its API
 * (`githubRequestCheck`): an operation GitHub lacks is 404, a parameter or body it refuses is 422.
 */
export interface GitHubApiServer {
  /** `http://127.0.0.1:<port>`: the forge's `apiUrl`. */
  readonly url: string;
  /** Lets `token` act as a personal access token: read-only unless `write`, on every repository unless `repositories` lists `owner/name`s. */
  addToken(token: string, grant?: { write?: boolean; repositories?: readonly string[] }): void;
  /** Whether `token` is one the endpoint knows (a personal token or an installation token it issued): what the git server accepts. */
  knows(token: string): boolean;
  /** Sets `user`'s permission on `owner/name` (GitHub's `admin`, `maintain`, `write`, `triage`, `read` or `none`). */
  setPermission(repository: string, user: string, permission: string): void;
  /** Closes pull request `number` of `owner/name` as a person would, merged or not. */
  closePull(repository: string, number: number, merged: boolean): Promise<void>;
  /** The comments posted on `owner/name`'s issue or pull request `number`. */
  comments(repository: string, number: number): readonly string[];
  /** A person's comment on the conversation of pull request `number`, as GitHub would store it; answers its id. */
  addIssueComment(repository: string, number: number, login: string, body: string): number;
  /** A person's submitted review of pull request `number`, with its line comments; answers the ids GitHub gave them. */
  addReview(repository: string, number: number, review: TestReview): { readonly id: number; readonly commentIds: readonly number[] };
  /** A workflow run's attempt on `headSha` of `branch` and its jobs (GitHub Actions); answers the jobs' ids. */
  addWorkflowRun(
    repository: string,
    run: { readonly id: number; readonly attempt?: number; readonly headSha: string; readonly branch: string; readonly jobs: readonly TestJob[] },
  ): number[];
  /** The reactions added through the API, in order. */
  reactions(): readonly { readonly kind: 'issue-comment' | 'review-comment'; readonly commentId: number; readonly content: string; readonly login: string }[];
  /** Changes the body of the next answer before it is checked and sent: how a test shows that a drifted answer fails the request that got it. */
  alterNextAnswer(change: (body: unknown) => unknown): void;
  /** Answers the next API requests with this status and GitHub's body for it (a 502 from a failing front end). */
  failNext(status: number, count?: number): void;
  /** Requests served, by `METHOD /path` without the query. */
  readonly requests: string[];
  /** Answers that drifted from GitHub's description (each was replaced by a 500 naming it). */
  readonly drifts: readonly string[];
  close(): Promise<void>;
}

export interface GitHubApiServerOptions {
  /** The served bare repository of `owner/name`, or undefined when there is none. */
  readonly repositoryPath: (repository: string) => string;
  /** The GitHub App whose JWTs are accepted: its id, public key and the installation tokens can be issued for. */
  readonly app: { readonly id: number; readonly publicKey: KeyObject; readonly installationId: number };
}

/** The reactions GitHub accepts (its `content` enum). */
const reactionContents = ['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes'];

interface StoredPull {
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  merged: boolean;
  head: string;
  base: string;
  /** The head commit when it was closed (an open pull request follows its branch). */
  closedHead?: string;
  created: string;
  updated: string;
}

interface Grant {
  readonly write: boolean;
  readonly repositories?: readonly string[] | undefined;
  readonly login: string;
}

export async function startGitHubApiServer(options: GitHubApiServerOptions): Promise<GitHubApiServer> {
  const grants = new Map<string, Grant>();
  const pulls = new Map<string, StoredPull[]>();
  const comments = new Map<string, { id: number; body: string; login: string }[]>();
  const reviews = new Map<string, StoredReview[]>();
  const reactions: { kind: 'issue-comment' | 'review-comment'; commentId: number; content: string; login: string }[] = [];
  const permissions = new Map<string, string>();
  const failures: number[] = [];
  const requests: string[] = [];
  const drifts: string[] = [];
  const alterations: ((body: unknown) => unknown)[] = [];
  let nextNumber = 0;
  let nextComment = 1000;
  let url = '';

  const git = async (repository: string, args: string[]): Promise<string | null> => {
    try {
      const { stdout } = await run('git', args, {
        cwd: options.repositoryPath(repository),
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' },
      });
      return stdout.trim();
    } catch {
      return null;
    }
  };
  const tipOf = (repository: string, branch: string): Promise<string | null> =>
    git(repository, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`]);

  const pullJson = async (repository: string, pull: StoredPull): Promise<Record<string, unknown>> => {
    const headSha = pull.state === 'open' ? ((await tipOf(repository, pull.head)) ?? pull.closedHead ?? '') : (pull.closedHead ?? '');
    const whole = githubPullRequest(repository, {
      number: pull.number,
      branch: pull.head,
      head: headSha,
      base: pull.base,
      state: pull.state,
      title: pull.title,
      body: pull.body,
    });
    return {
      ...whole,
      url: `${url}/repos/${repository}/pulls/${pull.number}`,
      id: 100000 + pull.number,
      html_url: `${url}/${repository}/pull/${pull.number}`,
      user: githubUser('cairn-bot[bot]', { id: 41898282, type: 'Bot' }),
      created_at: pull.created,
      updated_at: pull.updated,
      closed_at: pull.state === 'closed' ? pull.updated : null,
      merged_at: pull.merged ? pull.updated : null,
      merged: pull.merged,
      base: { ...whole.base, sha: (await tipOf(repository, pull.base)) ?? '' },
    };
  };

  /** The grant behind the request's `Authorization: token <t>` / `Bearer <t>`, checked against the repository. */
  const authorize = (request: IncomingMessage, repository: string, writing: boolean): Grant => {
    const header = request.headers.authorization ?? '';
    const match = /^(?:token|bearer) (\S+)$/i.exec(header);
    if (match === null) throw new HttpFailure(401, { message: 'Requires authentication', documentation_url: documentation, status: '401' });
    const grant = grants.get(match[1]!);
    if (grant === undefined) throw new HttpFailure(401, { message: 'Bad credentials', documentation_url: documentation, status: '401' });
    if (!existsSync(options.repositoryPath(repository))) throw notFound();
    // A repository the token was not given is hidden: GitHub answers 404, not 403.
    if (grant.repositories !== undefined && !grant.repositories.includes(repository)) throw notFound();
    if (writing && !grant.write) {
      throw new HttpFailure(403, { message: 'Resource not accessible by personal access token', documentation_url: documentation, status: '403' });
    }
    return grant;
  };

  const verifyAppJwt = (request: IncomingMessage): void => {
    const refuse = (message: string): never => {
      throw new HttpFailure(401, { message, documentation_url: documentation, status: '401' });
    };
    const match = /^bearer (\S+)$/i.exec(request.headers.authorization ?? '');
    if (match === null) refuse('A JSON web token could not be decoded');
    const parts = match![1]!.split('.');
    if (parts.length !== 3) refuse('A JSON web token could not be decoded');
    const [header, payload, signature] = parts as [string, string, string];
    let claims: { iss?: unknown; iat?: unknown; exp?: unknown };
    try {
      const decodedHeader = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown };
      if (decodedHeader.alg !== 'RS256') refuse('A JSON web token could not be decoded');
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch (error) {
      if (error instanceof HttpFailure) throw error;
      return refuse('A JSON web token could not be decoded');
    }
    if (!verify('RSA-SHA256', Buffer.from(`${header}.${payload}`), options.app.publicKey, Buffer.from(signature, 'base64url'))) {
      refuse('A JSON web token could not be decoded');
    }
    const now = Math.floor(Date.now() / 1000);
    if (String(claims.iss) !== String(options.app.id)) refuse(`Integration not found`);
    if (typeof claims.iat !== 'number' || claims.iat > now + 60) refuse("'Issued at' claim ('iat') must be an Integer representing a time in the past.");
    if (typeof claims.exp !== 'number' || claims.exp <= now)
      refuse("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.");
    if ((claims.exp as number) - (claims.iat as number) > 660) refuse("'Expiration time' claim ('exp') is too far in the future");
  };

  const readBody = async (request: IncomingMessage): Promise<Record<string, unknown>> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (chunks.length === 0) return {};
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new HttpFailure(400, { message: 'Problems parsing JSON', documentation_url: documentation, status: '400' });
    }
  };

  const actions = new ActionsRoutes();
  await actions.start();

  const route = async (request: IncomingMessage): Promise<RouteAnswer> => {
    const target = new URL(request.url ?? '/', 'http://127.0.0.1');
    const method = request.method ?? 'GET';
    const segments = target.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const failure = failures.shift();
    if (failure !== undefined) throw new HttpFailure(failure, { message: 'Server Error', status: String(failure) });
    // What GitHub's published description refuses is refused before any route reads it.
    const hasBody = method !== 'GET' && method !== 'HEAD' && method !== 'DELETE';
    const body = hasBody ? await readBody(request) : {};
    const refused = githubRequestCheck().check(method, target, hasBody ? body : undefined);
    if (refused !== undefined) throw new HttpFailure(refused.status, refused.body);

    if (method === 'POST' && segments.length === 4 && segments[0] === 'app' && segments[1] === 'installations' && segments[3] === 'access_tokens') {
      verifyAppJwt(request);
      if (Number(segments[2]) !== options.app.installationId) throw notFound();
      const token = `ghs_${randomBytes(18).toString('base64url')}`;
      grants.set(token, { write: true, login: 'cairn-bot[bot]' });
      const expires = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return [
        201,
        {
          token,
          expires_at: expires,
          permissions: { contents: 'write', pull_requests: 'write', issues: 'write', metadata: 'read' },
          repository_selection: 'all',
        },
      ];
    }
    if (segments[0] !== 'repos' || segments.length < 4) throw notFound();
    const repository = `${segments[1]}/${segments[2]}`;
    const rest = segments.slice(3);
    const stored = pulls.get(repository) ?? [];
    pulls.set(repository, stored);
    const findPull = (number: string | undefined): StoredPull => {
      const pull = stored.find((candidate) => String(candidate.number) === number);
      if (pull === undefined) throw notFound();
      return pull;
    };

    if (rest[0] === 'actions') {
      authorize(request, repository, false);
      const answer = actions.answer(method, repository, rest, url);
      if (answer !== undefined) return answer;
    }
    if (rest[0] === 'pulls' && rest.length === 1 && method === 'GET') {
      authorize(request, repository, false);
      const state = target.searchParams.get('state') ?? 'open';
      const head = target.searchParams.get('head');
      const base = target.searchParams.get('base');
      const perPage = Math.min(Number(target.searchParams.get('per_page') ?? 30), 100);
      const owner = segments[1]!;
      const listed = stored
        .filter((pull) => state === 'all' || pull.state === state)
        .filter((pull) => head === null || head === `${owner}:${pull.head}`)
        .filter((pull) => base === null || base === pull.base)
        .toSorted((left, right) => right.number - left.number)
        .slice(0, perPage);
      return [200, await Promise.all(listed.map((pull) => pullJson(repository, pull)))];
    }
    if (rest[0] === 'pulls' && rest.length === 1 && method === 'POST') {
      authorize(request, repository, true);
      for (const field of ['title', 'head', 'base'])
        if (typeof body[field] !== 'string' || body[field] === '') throw validation([{ resource: 'PullRequest', code: 'missing_field', field }]);
      const head = String(body['head']).replace(new RegExp(`^${segments[1]}:`), '');
      const base = String(body['base']);
      const headTip = await tipOf(repository, head);
      if (headTip === null) throw validation([{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
      const baseTip = await tipOf(repository, base);
      if (baseTip === null) throw validation([{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
      if ((await git(repository, ['merge-base', '--is-ancestor', headTip, baseTip])) !== null) {
        throw validation([{ resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${head}` }]);
      }
      // Checked and stored with no await between, as GitHub's own uniqueness of an open head and base is atomic.
      if (stored.some((pull) => pull.state === 'open' && pull.head === head && pull.base === base)) {
        throw validation([{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${segments[1]}:${head}.` }]);
      }
      nextNumber += 1;
      const now = new Date().toISOString();
      const pull: StoredPull = {
        number: nextNumber,
        title: String(body['title']),
        body: typeof body['body'] === 'string' ? body['body'] : null,
        state: 'open',
        merged: false,
        head,
        base,
        created: now,
        updated: now,
      };
      stored.push(pull);
      return [201, await pullJson(repository, pull)];
    }
    if (rest[0] === 'pulls' && rest.length === 2 && method === 'GET') {
      authorize(request, repository, false);
      return [200, await pullJson(repository, findPull(rest[1]))];
    }
    if (rest[0] === 'pulls' && rest.length === 2 && method === 'PATCH') {
      authorize(request, repository, true);
      const pull = findPull(rest[1]);
      if (body['base'] !== undefined && (typeof body['base'] !== 'string' || (await tipOf(repository, body['base'])) === null)) {
        throw validation([{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
      }
      if (body['state'] !== undefined && body['state'] !== 'open' && body['state'] !== 'closed')
        throw validation([{ resource: 'PullRequest', field: 'state', code: 'invalid' }]);
      if (typeof body['title'] === 'string') pull.title = body['title'];
      if (typeof body['body'] === 'string') pull.body = body['body'];
      if (typeof body['base'] === 'string') pull.base = body['base'];
      if (body['state'] === 'closed' && pull.state === 'open') pull.closedHead = (await tipOf(repository, pull.head)) ?? '';
      if (body['state'] === 'open' || body['state'] === 'closed') pull.state = body['state'];
      pull.updated = new Date().toISOString();
      return [200, await pullJson(repository, pull)];
    }
    if (rest[0] === 'issues' && rest[2] === 'comments' && rest.length === 3 && method === 'POST') {
      const grant = authorize(request, repository, true);
      findPull(rest[1]);
      if (typeof body['body'] !== 'string' || body['body'] === '') throw validation([{ resource: 'IssueComment', code: 'missing_field', field: 'body' }]);
      nextComment += 1;
      const key = `${repository}#${rest[1]}`;
      comments.set(key, [...(comments.get(key) ?? []), { id: nextComment, body: body['body'], login: grant.login }]);
      const now = new Date().toISOString();
      return [
        201,
        {
          id: nextComment,
          url: `${url}/repos/${repository}/issues/comments/${nextComment}`,
          html_url: `${url}/${repository}/pull/${rest[1]}#issuecomment-${nextComment}`,
          issue_url: `${url}/repos/${repository}/issues/${rest[1]}`,
          node_id: `IC_${nextComment}`,
          body: body['body'],
          user: githubUser(grant.login),
          created_at: now,
          updated_at: now,
          author_association: 'NONE',
          performed_via_github_app: null,
          reactions: noReactions(`${url}/repos/${repository}/issues/comments/${nextComment}`),
        },
      ];
    }
    if (rest[0] === 'pulls' && rest[2] === 'reviews' && (rest.length === 4 || (rest.length === 5 && rest[4] === 'comments')) && method === 'GET') {
      authorize(request, repository, false);
      const pull = findPull(rest[1]);
      const review = (reviews.get(repository) ?? []).find((candidate) => candidate.pull === pull.number && String(candidate.id) === rest[3]);
      if (review === undefined) throw notFound();
      const headSha = (await tipOf(repository, pull.head)) ?? '';
      const at = { url, repository, pull: pull.number, headSha };
      return [200, rest.length === 4 ? reviewJson(at, review) : reviewCommentsJson(at, review)];
    }
    if (rest[1] === 'comments' && rest[3] === 'reactions' && rest.length === 4 && (rest[0] === 'issues' || rest[0] === 'pulls') && method === 'POST') {
      const grant = authorize(request, repository, true);
      const kind = rest[0] === 'issues' ? 'issue-comment' : 'review-comment';
      const commentId = Number(rest[2]);
      const exists =
        kind === 'issue-comment'
          ? [...comments.entries()].some(([key, list]) => key.startsWith(`${repository}#`) && list.some((comment) => comment.id === commentId))
          : (reviews.get(repository) ?? []).some((review) => review.commentIds.includes(commentId));
      if (!exists) throw notFound();
      if (typeof body['content'] !== 'string' || !reactionContents.includes(body['content']))
        throw validation([{ resource: 'Reaction', code: 'invalid', field: 'content' }]);
      const already = reactions.findIndex(
        (reaction) => reaction.kind === kind && reaction.commentId === commentId && reaction.content === body['content'] && reaction.login === grant.login,
      );
      if (already < 0) reactions.push({ kind, commentId, content: body['content'], login: grant.login });
      const index = already < 0 ? reactions.length - 1 : already;
      // GitHub answers 200 with the reaction the user already added, 201 with a new one.
      return [
        already < 0 ? 201 : 200,
        {
          id: 5000 + index,
          node_id: `REA_${5000 + index}`,
          user: githubUser(grant.login, { id: 2 }),
          content: body['content'],
          created_at: new Date().toISOString(),
        },
      ];
    }
    if (rest[0] === 'collaborators' && rest[2] === 'permission' && rest.length === 3 && method === 'GET') {
      authorize(request, repository, false);
      const permission = permissions.get(`${repository}:${rest[1]}`);
      if (permission === undefined) throw notFound();
      // `permission` is the legacy four-level value; `role_name` the role itself (maintain, triage).
      const legacy = permission === 'maintain' ? 'write' : permission === 'triage' ? 'read' : permission;
      return [200, { permission: legacy, role_name: permission, user: { ...githubUser(rest[1]!), role_name: permission } }];
    }
    throw notFound();
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    requests.push(`${request.method} ${path}`);
    /** Every answer is checked against GitHub's description first: one that drifted fails the request that got it, and is kept. */
    const answer = (status: number, given: unknown, headers?: Record<string, string>) => {
      const body = (alterations.shift() ?? ((unchanged: unknown) => unchanged))(given);
      const drift = githubResponseProblem(request.method ?? 'GET', path, status, body);
      if (drift === undefined) return send(response, status, body, headers);
      drifts.push(drift);
      send(response, 500, { message: `The GitHub test endpoint answered what GitHub's description does not allow (${drift})` });
    };
    route(request).then(
      ([status, body, headers]) => answer(status, body, headers),
      (error: unknown) => {
        request.resume();
        if (error instanceof HttpFailure) answer(error.status, error.body);
        else send(response, 500, { message: String(error) });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    drifts,
    addToken(token, grant = {}) {
      grants.set(token, { write: grant.write ?? false, repositories: grant.repositories, login: 'a-person' });
    },
    knows: (token) => grants.has(token),
    setPermission(repository, user, permission) {
      permissions.set(`${repository}:${user}`, permission);
    },
    async closePull(repository, number, merged) {
      const pull = (pulls.get(repository) ?? []).find((candidate) => candidate.number === number);
      if (pull === undefined) throw new Error(`no pull request ${repository}#${number}`);
      pull.closedHead = (await tipOf(repository, pull.head)) ?? '';
      pull.state = 'closed';
      pull.merged = merged;
    },
    comments: (repository, number) => (comments.get(`${repository}#${number}`) ?? []).map((comment) => comment.body),
    addIssueComment(repository, number, login, body) {
      nextComment += 1;
      const key = `${repository}#${number}`;
      comments.set(key, [...(comments.get(key) ?? []), { id: nextComment, body, login }]);
      return nextComment;
    },
    addReview(repository, number, review) {
      nextComment += 1;
      const id = 80_000 + nextComment;
      const commentIds = review.comments.map(() => (nextComment += 1));
      reviews.set(repository, [...(reviews.get(repository) ?? []), { ...review, id, pull: number, commentIds, submitted: new Date().toISOString() }]);
      return { id, commentIds };
    },
    addWorkflowRun: (repository, run) => actions.addWorkflowRun(repository, run),
    reactions: () => reactions,
    alterNextAnswer(change) {
      alterations.push(change);
    },
    failNext(status, count = 1) {
      for (let index = 0; index < count; index += 1) failures.push(status);
    },
    async close() {
      await actions.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
