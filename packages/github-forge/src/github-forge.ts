import type {
  ChangeRequest,
  ChangeRequestComment,
  ChangeRequestDraft,
  ForgeBranchPush,
  ForgeBranchTip,
  ForgeCapabilities,
  ForgeGitAccess,
  ForgeV1,
  PushedBranch,
} from '@cairn/core';
import { assertBranchName, assertPushRequest, createGitForge, type GitForge } from '@cairn/git-forge';
import { CairnError, isCairnError, parseSettings } from '@cairn/protocol';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import type { z } from 'zod';
import { gitHubApiFailure } from './github-api-failure.ts';
import { gitHubForgeSettingsSchema, type GitHubForgeSettings } from './github-forge-settings.ts';

/** A pull request as the REST API answers it (the fields the forge reads). */
interface PullRequestData {
  readonly number: number;
  readonly html_url: string;
  readonly title: string;
  readonly body: string | null;
  readonly state: string;
  readonly merged_at: string | null;
  readonly head: { readonly ref: string; readonly sha: string };
  readonly base: { readonly ref: string };
}

/** A reaction GitHub lets anyone add to a comment. */
export type GitHubReaction = '+1' | '-1' | 'laugh' | 'confused' | 'heart' | 'hooray' | 'rocket' | 'eyes';

/** A submitted pull request review and its line comments (`GitHubForge.readReview`). */
export interface GitHubReview {
  readonly id: string;
  /** GitHub's state: `COMMENTED`, `CHANGES_REQUESTED`, `APPROVED`, `DISMISSED`. */
  readonly state: string;
  readonly body: string;
  readonly url: string;
  /** Who wrote it; null for a deleted account. */
  readonly login: string | null;
  readonly comments: readonly {
    readonly id: string;
    readonly body: string;
    readonly path: string;
    /** The line in the file it is on (the line it was on, when outdated); null for a comment on the file. */
    readonly line: number | null;
    readonly diffHunk: string;
    readonly url: string;
  }[];
}

/** A failed job of a workflow run and its log, whole (`GitHubForge.readFailedJobs`): the caller bounds it. */
export interface GitHubFailedJob {
  readonly id: string;
  readonly name: string;
  /** GitHub's conclusion: `failure`, `timed_out` (or `cancelled`, `startup_failure`). */
  readonly conclusion: string;
  readonly url: string;
  /** The steps that failed, by name, in order. */
  readonly failedSteps: readonly string[];
  /** The job's plain-text log; empty when GitHub has none (expired, or the job never started). */
  readonly log: string;
}

/** A person's permission on the repository, as `GET /repos/{o}/{r}/collaborators/{user}/permission` answers it. */
export type GitHubRepositoryPermission = 'admin' | 'write' | 'read' | 'none';

/**
 * The remote of a GitHub forge's repository and the credential git reaches it with
 * (`GitHubForge.gitAccess`): `<gitUrl>/<owner>/<name>.git`, `x-access-token` and the personal or
 * installation token. The contract's `ForgeGitAccess`, under the name this package gave it first.
 */
export type GitHubGitAccess = ForgeGitAccess;

/** GitHub takes any username with a token as the password; `x-access-token` is what its docs use for apps. */
const gitUsername = 'x-access-token';

/** Octokit's logger, silenced: the forge reports through its results and errors, the host logs. */
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * ForgeV1 on GitHub: branches pushed with the real git over HTTPS by `@cairn/git-forge` (one commit
 * on the base with the Cairn trailers, replaced under a lease), and pull requests opened, updated,
 * commented on and read through GitHub's REST API with `@octokit/rest` (`changeRequests: true`).
 *
 * Credentials are a personal access token, or a GitHub App installation: the app's JWT (RS256,
 * signed with its private key) is exchanged for an installation token, cached and renewed by
 * `@octokit/auth-app`, and that token is both the API's bearer token and git's password.
 */
export class GitHubForge implements ForgeV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'github';
  readonly capabilities: ForgeCapabilities = { changeRequests: true, gitAccess: true };
  readonly settings: Readonly<z.output<typeof gitHubForgeSettingsSchema>>;
  readonly #owner: string;
  readonly #name: string;
  readonly #remote: string;
  readonly #octokit: Octokit;
  /** The git forge for a personal token (one for the forge's life); an app's token changes, so its git forge is built per call. */
  readonly #tokenGit: GitForge | undefined;

  constructor(settings: GitHubForgeSettings) {
    this.settings = parseSettings(gitHubForgeSettingsSchema, settings, 'github-forge');
    const [owner, name] = this.settings.repository.split('/') as [string, string];
    this.#owner = owner;
    this.#name = name;
    this.#remote = `${this.settings.gitUrl.replace(/\/+$/, '')}/${owner}/${name}.git`;
    const timeoutMs = this.settings.requestTimeoutSeconds * 1000;
    const { app, token } = this.settings;
    this.#octokit = new Octokit({
      baseUrl: this.settings.apiUrl.replace(/\/+$/, ''),
      userAgent: 'cairn-github-forge',
      log: silent,
      // No answer within the timeout is abandoned (CAIRN_FORGE_UNAVAILABLE); fetch has no limit of its own.
      request: {
        fetch: (input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, signal: init?.signal ?? AbortSignal.timeout(timeoutMs) }),
      },
      ...(app === undefined
        ? { auth: token }
        : { authStrategy: createAppAuth, auth: { appId: app.appId, privateKey: app.privateKey, installationId: app.installationId } }),
    });
    this.#tokenGit = token === undefined ? undefined : this.#gitForge(token);
  }

  /** The repository as `owner/name`: how messages and logs name it (never with a credential). */
  get repository(): string {
    return this.settings.repository;
  }

  async readBranch(branch: string): Promise<ForgeBranchTip | null> {
    assertBranchName(branch);
    const git = await this.#git('reading a branch');
    return relabelled(() => git.readBranch(branch));
  }

  async pushBranch(push: ForgeBranchPush): Promise<PushedBranch> {
    // Checked before the installation token is fetched: an unusable request makes no call at all.
    assertPushRequest(push);
    const git = await this.#git(`pushing ${push.branch}`);
    return relabelled(() => git.pushBranch(push));
  }

  /**
   * The open pull request from `draft.branch` (`GET /pulls?head=owner:branch&state=open`) with its
   * title, body and base set to the draft's, or a new one. A creation that loses a race to another
   * (422 "A pull request already exists") updates the one that won.
   */
  async openChangeRequest(draft: ChangeRequestDraft): Promise<ChangeRequest> {
    assertDraft(draft);
    const existing = await this.#openPullFrom(draft.branch);
    if (existing !== undefined) return this.#update(existing, draft);
    try {
      const { data } = await this.#octokit.rest.pulls.create({ ...this.#repo(), head: draft.branch, base: draft.target, title: draft.title, body: draft.body });
      return toChangeRequest(data);
    } catch (error) {
      if (!alreadyExists(error)) throw this.#failure(error, `opening a pull request from ${draft.branch}`, draft.branch);
      const winner = await this.#openPullFrom(draft.branch);
      if (winner === undefined) throw this.#failure(error, `opening a pull request from ${draft.branch}`, draft.branch);
      return this.#update(winner, draft);
    }
  }

  /** Posts an issue comment on the pull request (`POST /issues/{number}/comments`); at-least-once. */
  async commentOnChangeRequest(id: string, body: string): Promise<ChangeRequestComment> {
    if (typeof body !== 'string' || body.trim() === '') {
      throw new CairnError('CAIRN_FORGE_REQUEST_INVALID', '[cairn] [github-forge] a comment needs a body (Markdown); nothing was sent to GitHub', {
        path: 'body',
      });
    }
    if (!pullNumber.test(id)) throw this.#noSuchPull(id);
    try {
      const { data } = await this.#octokit.rest.issues.createComment({ ...this.#repo(), issue_number: Number(id), body });
      return { id: String(data.id), url: data.html_url };
    } catch (error) {
      if (statusOf(error) === 404 && (await this.#repositoryVisible())) throw this.#noSuchPull(id);
      throw this.#failure(error, `commenting on pull request #${id}`);
    }
  }

  /** The pull request `id` (its number), or null when the repository has none by that number. */
  async readChangeRequest(id: string): Promise<ChangeRequest | null> {
    if (!pullNumber.test(id)) return null;
    try {
      const { data } = await this.#octokit.rest.pulls.get({ ...this.#repo(), pull_number: Number(id) });
      return toChangeRequest(data);
    } catch (error) {
      if (statusOf(error) === 404 && (await this.#repositoryVisible())) return null;
      throw this.#failure(error, `reading pull request #${id}`);
    }
  }

  /**
   * What `user` may do in the repository (`GET /repos/{o}/{r}/collaborators/{user}/permission`):
   * `admin`, `write` (GitHub's maintain counts), `read` (triage too), or `none`, also for a user
   * GitHub does not know. Who may trigger a run from a comment is decided on it.
   */
  async readPermission(user: string): Promise<GitHubRepositoryPermission> {
    if (typeof user !== 'string' || !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/.test(user)) {
      throw new CairnError('CAIRN_FORGE_REQUEST_INVALID', `[cairn] [github-forge] "${String(user)}" is not a GitHub login; nothing was sent to GitHub`, {
        path: 'user',
      });
    }
    try {
      const { data } = await this.#octokit.rest.repos.getCollaboratorPermissionLevel({ ...this.#repo(), username: user });
      return data.permission === 'admin' || data.permission === 'write' || data.permission === 'read' ? data.permission : 'none';
    } catch (error) {
      // 404 names a user GitHub does not know (the repository itself was readable): no permission.
      if (statusOf(error) === 404 && (await this.#repositoryVisible())) return 'none';
      throw this.#failure(error, `reading the permission of ${user}`);
    }
  }

  /**
   * The review `reviewId` of pull request `pull` (`GET /pulls/{n}/reviews/{id}`) with its line
   * comments (`GET /pulls/{n}/reviews/{id}/comments`, the first 100): what a reviewer asked, read
   * whole whichever of its events arrived first. Null for a pull request or review GitHub does not have.
   */
  async readReview(pull: string, reviewId: string): Promise<GitHubReview | null> {
    if (!pullNumber.test(pull) || !/^[1-9][0-9]{0,19}$/.test(reviewId)) return null;
    const at = { ...this.#repo(), pull_number: Number(pull), review_id: Number(reviewId) };
    try {
      const [{ data: review }, { data: comments }] = await Promise.all([
        this.#octokit.rest.pulls.getReview(at),
        this.#octokit.rest.pulls.listCommentsForReview({ ...at, per_page: 100 }),
      ]);
      return {
        id: String(review.id),
        state: review.state,
        body: review.body ?? '',
        url: review.html_url,
        login: review.user?.login ?? null,
        comments: comments.map((comment) => ({
          id: String(comment.id),
          body: comment.body,
          path: comment.path,
          line: typeof comment.line === 'number' ? comment.line : typeof comment.original_line === 'number' ? comment.original_line : null,
          diffHunk: comment.diff_hunk,
          url: comment.html_url,
        })),
      };
    } catch (error) {
      if (statusOf(error) === 404 && (await this.#repositoryVisible())) return null;
      throw this.#failure(error, `reading review ${reviewId} of pull request #${pull}`);
    }
  }

  /**
   * Adds the reaction `content` to a comment: an issue comment (one on a pull request's
   * conversation, `POST /issues/comments/{id}/reactions`) or a review comment (on a line,
   * `POST /pulls/comments/{id}/reactions`). Idempotent: GitHub answers the reaction already there.
   * CAIRN_NOT_FOUND for a comment it does not have.
   */
  async addReaction(comment: { readonly kind: 'issue-comment' | 'review-comment'; readonly id: string }, content: GitHubReaction): Promise<void> {
    if (!/^[1-9][0-9]{0,19}$/.test(comment.id))
      throw new CairnError('CAIRN_FORGE_REQUEST_INVALID', `[cairn] [github-forge] "${comment.id}" is not a comment id; nothing was sent to GitHub`, {
        path: 'comment.id',
      });
    try {
      const at = { ...this.#repo(), comment_id: Number(comment.id), content };
      if (comment.kind === 'issue-comment') await this.#octokit.rest.reactions.createForIssueComment(at);
      else await this.#octokit.rest.reactions.createForPullRequestReviewComment(at);
    } catch (error) {
      if (statusOf(error) === 404 && (await this.#repositoryVisible()))
        throw new CairnError('CAIRN_NOT_FOUND', `[cairn] [github-forge] ${this.repository} has no ${comment.kind} ${comment.id} to react to`, {
          path: 'comment.id',
          details: { repository: this.repository, id: comment.id },
        });
      throw this.#failure(error, `reacting to ${comment.kind} ${comment.id}`);
    }
  }

  /**
   * The jobs of attempt `attempt` of workflow run `runId` that did not succeed
   * (`GET /actions/runs/{id}/attempts/{n}/jobs`, the first 100), each with its log
   * (`GET /actions/jobs/{id}/logs`, which answers 302 to a short-lived download address that
   * takes no credential; fetch drops the token on that other host). At most `maxJobs` logs are
   * read. Empty for a run GitHub does not have. The logs are whole: bounding them is the caller's.
   */
  async readFailedJobs(runId: string, attempt: number, options: { readonly maxJobs?: number } = {}): Promise<GitHubFailedJob[]> {
    if (!/^[1-9][0-9]{0,19}$/.test(runId) || !Number.isSafeInteger(attempt) || attempt < 1)
      throw new CairnError(
        'CAIRN_FORGE_REQUEST_INVALID',
        `[cairn] [github-forge] "${runId}" attempt ${attempt} is not a workflow run; nothing was sent to GitHub`,
        {
          path: 'runId',
        },
      );
    let jobs;
    try {
      ({
        data: { jobs },
      } = await this.#octokit.rest.actions.listJobsForWorkflowRunAttempt({ ...this.#repo(), run_id: Number(runId), attempt_number: attempt, per_page: 100 }));
    } catch (error) {
      if (statusOf(error) === 404 && (await this.#repositoryVisible())) return [];
      throw this.#failure(error, `listing the jobs of workflow run ${runId}`);
    }
    const failed = jobs.filter((job) => job.status === 'completed' && job.conclusion !== null && !passing.has(job.conclusion)).slice(0, options.maxJobs ?? 3);
    return Promise.all(
      failed.map(async (job) => {
        let log = '';
        try {
          const { data } = await this.#octokit.rest.actions.downloadJobLogsForWorkflowRun({ ...this.#repo(), job_id: job.id });
          log = typeof data === 'string' ? data : Buffer.isBuffer(data) || data instanceof ArrayBuffer ? Buffer.from(data as ArrayBuffer).toString('utf8') : '';
        } catch (error) {
          // GitHub keeps logs for a while only (410 Gone once expired): the job's name and steps still say what failed.
          const status = statusOf(error);
          if (status !== 404 && status !== 410) throw this.#failure(error, `reading the log of job ${job.id}`);
        }
        return {
          id: String(job.id),
          name: job.name,
          conclusion: job.conclusion ?? '',
          url: job.html_url ?? '',
          failedSteps: (job.steps ?? []).filter((step) => step.conclusion !== null && !passing.has(step.conclusion)).map((step) => step.name),
          log,
        };
      }),
    );
  }

  async #openPullFrom(branch: string): Promise<PullRequestData | undefined> {
    try {
      const { data } = await this.#octokit.rest.pulls.list({ ...this.#repo(), head: `${this.#owner}:${branch}`, state: 'open', per_page: 100 });
      // GitHub matches `head` exactly; the check keeps a server that does not from handing back another branch's.
      return data.find((pull) => pull.head.ref === branch);
    } catch (error) {
      throw this.#failure(error, `listing the open pull requests from ${branch}`);
    }
  }

  async #update(pull: PullRequestData, draft: ChangeRequestDraft): Promise<ChangeRequest> {
    try {
      const { data } = await this.#octokit.rest.pulls.update({
        ...this.#repo(),
        pull_number: pull.number,
        title: draft.title,
        body: draft.body,
        ...(pull.base.ref === draft.target ? {} : { base: draft.target }),
      });
      return toChangeRequest(data);
    } catch (error) {
      throw this.#failure(error, `updating pull request #${pull.number}`, draft.branch);
    }
  }

  /**
   * Whether the repository is readable with the forge's credentials: tells a 404 of a pull request
   * (the repository is there, the number is not) from a 404 of a repository hidden from them.
   */
  async #repositoryVisible(): Promise<boolean> {
    try {
      await this.#octokit.rest.pulls.list({ ...this.#repo(), state: 'all', per_page: 1 });
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw this.#failure(error, 'reading the repository');
    }
  }

  /**
   * Where git reaches the repository and the credential it reaches it with, for a host that runs
   * git itself (a server fetching a run's workspace from the forge's repository): the remote
   * `<gitUrl>/<owner>/<name>.git`, and the personal token, or an installation token of the app
   * (the one its pushes use, renewed before it expires). The token is a secret: hand it to git as
   * a password (a credential helper), never in a URL, a log or an error. An app whose token
   * cannot be had is CAIRN_FORGE_UNAUTHORIZED (refused) or CAIRN_FORGE_UNAVAILABLE.
   */
  async gitAccess(): Promise<ForgeGitAccess> {
    const token = this.settings.token ?? (await this.#installationToken('fetching the repository'));
    return { remote: this.#remote, username: gitUsername, token };
  }

  /** The git forge to push with: the personal token's, or one with a fresh installation token. */
  async #git(what: string): Promise<GitForge> {
    if (this.#tokenGit !== undefined) return this.#tokenGit;
    return this.#gitForge(await this.#installationToken(what));
  }

  /** The app's installation token, from `@octokit/auth-app`'s cache or newly issued. */
  async #installationToken(what: string): Promise<string> {
    try {
      const { token } = (await this.#octokit.auth({ type: 'installation' })) as { token: string };
      return token;
    } catch (error) {
      throw this.#failure(error, `fetching the app's installation token for ${what}`);
    }
  }

  #gitForge(token: string): GitForge {
    const { author, stallSeconds } = this.settings;
    return createGitForge({ remote: this.#remote, username: gitUsername, token, author, stallSeconds });
  }

  #repo(): { owner: string; repo: string } {
    return { owner: this.#owner, repo: this.#name };
  }

  #failure(error: unknown, what: string, branch?: string): CairnError {
    const failure = gitHubApiFailure(error, this.repository, what);
    if (branch !== undefined && failure.code === 'CAIRN_FORGE_REQUEST_INVALID') {
      return new CairnError(failure.code, `${failure.message}: push ${branch} first, and check that the target branch exists and differs from it`, {
        details: failure.details,
        cause: error,
      });
    }
    return failure;
  }

  #noSuchPull(id: string): CairnError {
    return new CairnError('CAIRN_NOT_FOUND', `[cairn] [github-forge] ${this.repository} has no pull request "${id}": use the id openChangeRequest answered`, {
      path: 'id',
      details: { repository: this.repository, id },
    });
  }
}

/** Builds a GitHub forge; the settings are checked here (CAIRN_CONFIG_INVALID naming `github-forge.<option>`). */
export function createGitHubForge(settings: GitHubForgeSettings): GitHubForge {
  return new GitHubForge(settings);
}

const pullNumber = /^[1-9][0-9]{0,9}$/;

/** The conclusions of a job or step that ask for nothing: it passed, or did not need to run. */
const passing = new Set(['success', 'skipped', 'neutral']);

function toChangeRequest(pull: PullRequestData): ChangeRequest {
  return {
    id: String(pull.number),
    url: pull.html_url,
    branch: pull.head.ref,
    target: pull.base.ref,
    title: pull.title,
    body: pull.body ?? '',
    state: pull.merged_at !== null ? 'merged' : pull.state === 'open' ? 'open' : 'closed',
    head: pull.head.sha,
  };
}

function assertDraft(draft: ChangeRequestDraft): void {
  assertBranchName(draft.branch);
  try {
    assertBranchName(draft.target);
  } catch {
    throw new CairnError(
      'CAIRN_FORGE_REQUEST_INVALID',
      `[cairn] [github-forge] the target "${String(draft.target)}" is not a branch name; nothing was sent to GitHub`,
      {
        path: 'target',
      },
    );
  }
  const field = typeof draft.title !== 'string' || draft.title.trim() === '' ? 'title' : typeof draft.body !== 'string' ? 'body' : undefined;
  if (field !== undefined) {
    throw new CairnError('CAIRN_FORGE_REQUEST_INVALID', `[cairn] [github-forge] a pull request needs a ${field} (text); nothing was sent to GitHub`, {
      path: field,
    });
  }
}

function statusOf(error: unknown): number | undefined {
  const status = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
  return typeof status === 'number' ? status : undefined;
}

/** GitHub's 422 when an open pull request from the head already exists (a concurrent opening won). */
function alreadyExists(error: unknown): boolean {
  if (statusOf(error) !== 422) return false;
  const errors = (error as { response?: { data?: { errors?: unknown } } }).response?.data?.errors;
  return Array.isArray(errors) && errors.some((item: unknown) => /already exists/i.test(String((item as { message?: unknown } | null)?.message)));
}

/** Runs a git-forge call, naming this package and its settings in the errors git-forge words for itself. */
async function relabelled<Result>(call: () => Promise<Result>): Promise<Result> {
  try {
    return await call();
  } catch (error) {
    if (!isCairnError(error)) throw error;
    const message = error.message.replaceAll('git-forge.remote', 'github-forge.repository').replaceAll('git-forge', 'github-forge');
    throw new CairnError(error.code, message, {
      ...(error.path === undefined ? {} : { path: error.path }),
      issues: error.issues,
      details: error.details,
      cause: error,
    });
  }
}
