import type { AuditActor } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import type { GitHubForge } from '@cairn/github-forge';
import { CairnError } from '@cairn/protocol';
import type { DeliveredTips } from '../../delivery/delivered-tips.ts';
import { permissionsAllowedToRun, type RepositoryPermissions } from '../repository-permissions.ts';
import type { RunTemplates } from '../run-templates.ts';
import type { SeenDeliveries } from '../seen-deliveries.ts';
import { auditingRefusals, submitTriggeredRun } from '../triggered-run.ts';
import { boundedHead, boundedTail, followUpBounds, reviewText } from './follow-up-parameters.ts';
import { logExcerpt } from './log-excerpt.ts';
import { mentions, pullRequestEventOf, type PullRequestAt, type PullRequestEvent } from './pull-request-event.ts';
import type { ReviewLoopConfig } from './review-loop-config-schema.ts';
import { RunSpend } from '../../gateway/model-spend.ts';
import { boundComment, spendComment, stopComment } from './review-loop-comments.ts';
import type { ReviewLoopStore } from './review-loop-store.ts';

/** What the loop asks of the GitHub forge it watches. */
export type ReviewForge = Pick<GitHubForge, 'readChangeRequest' | 'commentOnChangeRequest' | 'readReview' | 'addReaction' | 'readFailedJobs'>;

/** What a delivery came to (the GitHub trigger's answer). */
export type ReviewLoopResult =
  | { readonly duplicate: false; readonly runId: string; readonly template: string; readonly created: boolean }
  | { readonly duplicate: false; readonly ignored: string }
  | { readonly duplicate: true };

/** What a follow-up's reply needs to say what it answered. */
export interface FollowUpDetail {
  readonly feedback: string;
  readonly url: string;
  readonly branch: string;
  /** The head the follow-up's workspace was asked at. */
  readonly head: string;
}

const checksActor: AuditActor = { kind: 'system', id: 'github-checks', via: 'http' };
const loopEntity = { kind: 'server', id: 'triggers/github/review-loop' } as const;
const requestedAction = 'triggers.github.review-loop';
/** The events only the review loop reads (an issue comment is the loop's when it is on a pull request and mentions the handle). */
const loopEvents = new Set(['pull_request', 'pull_request_review', 'pull_request_review_comment', 'check_run', 'workflow_run']);

/**
 * The review loop (ADR 0052): feedback on a pull request Cairn delivered — a review or its line
 * comments, a comment mentioning the handle, a failed check on the commit Cairn pushed — starts a
 * follow-up run from the loop's template, the feedback as bounded parameters, delivered to the same
 * branch. In order: the pull request must be Cairn's (its head branch has a delivered-tip record on
 * the loop's forge); a person must have write access (a refusal is audited); a check must have run
 * on the commit Cairn delivered; the feedback's id is claimed once; the bounds (stopped, per pull
 * request, per hour) admit it, or a comment says which stopped it and how to lift it; then the run,
 * and 👀 on the comment that asked.
 */
export class ReviewLoop {
  readonly #config: ReviewLoopConfig;
  readonly #repository: string;
  readonly #forge: () => Promise<ReviewForge>;
  readonly #tips: DeliveredTips;
  readonly #templates: RunTemplates;
  readonly #seen: SeenDeliveries;
  readonly #permissions: RepositoryPermissions;
  readonly #service: EngineService;
  readonly #store: ReviewLoopStore;
  readonly #now: () => number;

  constructor(options: {
    readonly config: ReviewLoopConfig;
    /** The forge's repository (`owner/name`): the only one whose pull requests the loop answers. */
    readonly repository: string;
    readonly forge: () => Promise<ReviewForge>;
    readonly tips: DeliveredTips;
    readonly templates: RunTemplates;
    readonly seen: SeenDeliveries;
    readonly permissions: RepositoryPermissions;
    readonly service: EngineService;
    readonly store: ReviewLoopStore;
    readonly now?: () => number;
  }) {
    this.#config = options.config;
    this.#repository = options.repository;
    this.#forge = options.forge;
    this.#tips = options.tips;
    this.#templates = options.templates;
    this.#seen = options.seen;
    this.#permissions = options.permissions;
    this.#service = options.service;
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
  }

  /** Whether a delivery is the loop's to answer rather than the issue trigger's. */
  wants(event: string | undefined, payload: unknown): boolean {
    if (event !== undefined && loopEvents.has(event)) return true;
    if (event !== 'issue_comment') return false;
    const delivery = payload as { issue?: { pull_request?: unknown }; comment?: { body?: unknown } } | null;
    const body = delivery?.comment?.body;
    return delivery?.issue?.pull_request != null && typeof body === 'string' && mentions(body, this.#config.handle);
  }

  /** Answers a delivery the loop wants, from `repository` (already checked against the trigger's lists). */
  async handle(event: string | undefined, payload: unknown, repository: string): Promise<ReviewLoopResult> {
    const read = pullRequestEventOf(event, payload, this.#config);
    if (read.kind === 'ignored') return { duplicate: false, ignored: read.reason };
    if (repository.toLowerCase() !== this.#repository.toLowerCase())
      return { duplicate: false, ignored: `the review loop answers pull requests of ${this.#repository} (the forge ${this.#config.forge}), not ${repository}` };
    const forge = await this.#forge();
    const pull = await this.#completed(forge, read.pull);
    if (pull === undefined) return { duplicate: false, ignored: `${repository} has no open pull request #${read.pull.number}` };
    const tip = await this.#tips.read(this.#config.forge, pull.branch);
    if (tip === null)
      return {
        duplicate: false,
        ignored: `pull request #${pull.number} (branch ${pull.branch}) was not delivered by Cairn: the review loop answers only those`,
      };

    if (read.kind === 'check') {
      if (read.headSha !== tip.commit)
        return {
          duplicate: false,
          ignored: `the ${read.name} check ran on ${read.headSha}, not on ${tip.commit}, the commit Cairn delivered to ${pull.branch}: a push by someone else answers for its own checks`,
        };
      return this.#followUp(forge, pull, read.checkId, checksActor, tip.runId, read);
    }
    const actor: AuditActor = { kind: 'user', id: `github:${read.login}`, via: 'http' };
    await this.#assertMayAsk(actor, read.login, read.kind === 'stop-label' ? 'stop the review loop' : 'ask for a follow-up run');
    if (read.kind === 'stop-label') {
      const by = `the label ${this.#config.stopLabel}, by ${read.login}`;
      if (read.added) await this.#store.stop(this.#repository, pull.number, by);
      else await this.#store.resume(this.#repository, pull.number, this.#now());
      await forge.commentOnChangeRequest(
        String(pull.number),
        stopComment(read.added, read.added ? by : `the label ${this.#config.stopLabel} removed by ${read.login}`, this.#config),
      );
      return { duplicate: false, ignored: `${read.added ? 'stopped' : 'resumed'} the review loop of #${pull.number}` };
    }
    if (read.kind === 'mention' && read.command !== undefined) {
      const claimed = await this.#seen.handleOnce(`github-feedback:issue-comment:${read.commentId}`, async () => {
        const by = `${this.#config.handle} ${read.command} by ${read.login}`;
        if (read.command === 'stop') await this.#store.stop(this.#repository, pull.number, by);
        else await this.#store.resume(this.#repository, pull.number, this.#now());
        await this.#react(forge, { kind: 'issue-comment', id: read.commentId });
        await forge.commentOnChangeRequest(String(pull.number), stopComment(read.command === 'stop', by, this.#config));
        return { duplicate: false as const, ignored: `${read.command === 'stop' ? 'stopped' : 'resumed'} the review loop of #${pull.number}` };
      });
      return claimed ?? { duplicate: true };
    }
    const feedbackId = read.kind === 'review' ? `review:${read.reviewId}` : `issue-comment:${read.commentId}`;
    return this.#followUp(forge, pull, feedbackId, actor, tip.runId, read);
  }

  /** Claims the feedback, admits it under the bounds, and starts its run; a bound hit is a comment instead. */
  async #followUp(
    forge: ReviewForge,
    pull: Required<Pick<PullRequestAt, 'number' | 'branch' | 'head' | 'base' | 'url'>>,
    feedbackId: string,
    actor: AuditActor,
    deliveredBy: string,
    read: Exclude<PullRequestEvent, { kind: 'ignored' | 'stop-label' }>,
  ): Promise<ReviewLoopResult> {
    const claimed = await this.#seen.handleOnce(`github-feedback:${feedbackId}`, async (): Promise<ReviewLoopResult> => {
      const feedback = await this.#feedback(forge, pull, read);
      if (typeof feedback === 'string') return { duplicate: false, ignored: feedback };
      const spendCap = this.#config.maxSpendPerPullRequestUsd;
      if (spendCap !== undefined && (await this.#stoppedBy(pull.number)) === undefined) {
        const spent = await this.#spendOf(pull.number);
        if (spent >= spendCap) {
          const comment = spendComment(spent, spendCap, this.#config);
          await forge.commentOnChangeRequest(String(pull.number), comment);
          return { duplicate: false, ignored: comment.split('\n', 1)[0]! };
        }
      }
      const detail: FollowUpDetail = { feedback: feedback.summary, url: feedback.parameters['feedback.url'] ?? pull.url, branch: pull.branch, head: pull.head };
      const admission = await this.#store.admit(
        { feedbackId, repository: this.#repository, pullNumber: pull.number, requestedAt: this.#now(), detail: JSON.stringify(detail) },
        { perPullRequest: this.#config.maxFollowUpsPerPullRequest, perHour: this.#config.maxFollowUpsPerHour },
      );
      if (!admission.admitted) {
        const comment = boundComment(admission, this.#config);
        await forge.commentOnChangeRequest(String(pull.number), comment);
        return { duplicate: false, ignored: comment.split('\n', 1)[0]! };
      }
      const declared = new Set(
        this.#templates
          .list()
          .find((template) => template.name === this.#config.template)
          ?.parameters.map((parameter) => parameter.name) ?? [],
      );
      const parameters = Object.fromEntries(
        Object.entries({ ...feedback.parameters, 'delivered.run_id': deliveredBy, 'sender.login': actor.id.replace(/^github:/, '') }).filter(([name]) =>
          declared.has(name),
        ),
      );
      let submitted: { readonly runId: string; readonly created: boolean };
      try {
        submitted = await auditingRefusals(
          (reason) => this.#deny(actor, `template ${this.#config.template}: ${reason}`),
          () =>
            submitTriggeredRun(this.#templates, this.#service, {
              template: this.#config.template,
              parameters,
              actor,
              idempotencyKey: `github-feedback:${feedbackId}`,
              // Whatever the template says, the run's spec (and so its evidence bundle) names what caused it.
              labels: { 'cairn.dev/feedback': detail.url, 'cairn.dev/feedback-id': feedbackId },
            }),
        );
      } catch (error) {
        await this.#store.withdraw(feedbackId);
        throw error;
      }
      await this.#store.started(feedbackId, submitted.runId);
      try {
        await this.#acknowledge(forge, pull, read, feedback.reactTo, submitted.runId);
      } catch {
        // The run started and its claim holds: a 👀 lost to a forge outage is not worth a failed
        // delivery, whose redelivery would find the claim and start nothing anyway. The reply follows.
      }
      return { duplicate: false, runId: submitted.runId, template: this.#config.template, created: submitted.created };
    });
    return claimed ?? { duplicate: true };
  }

  /** What the pull request's follow-ups since its last resume spent on models, in US dollars. */
  async #spendOf(pullNumber: number): Promise<number> {
    const runs = (await this.#store.followUpsOf(this.#repository, pullNumber)).flatMap((record) => (record.runId === null ? [] : [record.runId]));
    const spends = await Promise.all(runs.map((runId) => RunSpend.read(this.#service.auditEntries({ runId, action: 'model.called' }))));
    return spends.reduce((total, spend) => total + spend.run.costUsd, 0);
  }

  /** Who stopped the pull request's loop, when it is: a stopped loop says so before anything is counted. */
  async #stoppedBy(pullNumber: number): Promise<string | undefined> {
    return this.#store.stoppedBy(this.#repository, pullNumber);
  }

  /** The feedback's parameters and a one-line summary, or why it asks for nothing after all. */
  async #feedback(
    forge: ReviewForge,
    pull: Required<Pick<PullRequestAt, 'number' | 'branch' | 'head' | 'base' | 'url'>>,
    read: Exclude<PullRequestEvent, { kind: 'ignored' | 'stop-label' }>,
  ): Promise<
    | { readonly parameters: Record<string, string>; readonly summary: string; readonly reactTo?: { kind: 'issue-comment' | 'review-comment'; id: string } }
    | string
  > {
    const base = {
      'pull.number': String(pull.number),
      'pull.branch': pull.branch,
      'pull.base': pull.base,
      'pull.head': pull.head,
      'pull.html_url': pull.url,
      'feedback.path': '',
      'feedback.line': '',
      'feedback.diff_hunk': '',
      'check.name': '',
      'check.conclusion': '',
      'check.log_excerpt': '',
    };
    if (read.kind === 'check') {
      const failure = await this.#checkFailure(forge, read);
      return {
        parameters: {
          ...base,
          'feedback.kind': 'check',
          'feedback.body': boundedHead(`The check ${read.name} concluded ${read.conclusion} on ${read.headSha}.${failure.said}`, followUpBounds.body),
          'feedback.url': read.url,
          'check.name': read.name,
          'check.conclusion': read.conclusion,
          'check.log_excerpt': logExcerpt(failure.report, this.#config.logExcerpt),
        },
        summary: `the ${read.name} check (${read.conclusion})`,
      };
    }
    if (read.kind === 'mention')
      return {
        parameters: { ...base, 'feedback.kind': 'comment', 'feedback.body': boundedHead(read.body, followUpBounds.body), 'feedback.url': read.url },
        summary: `the comment of ${read.login}`,
        reactTo: { kind: 'issue-comment', id: read.commentId },
      };
    const review = await forge.readReview(String(pull.number), read.reviewId);
    if (review === null) return `pull request #${pull.number} has no review ${read.reviewId}`;
    if (review.state === 'APPROVED' && review.comments.length === 0) return 'an approving review without comments asks for no change';
    if (review.state === 'DISMISSED') return 'the review was dismissed';
    const first = review.comments[0];
    const text = reviewText(review);
    if (text.trim() === '') return 'the review says nothing to act on (no body, no comments)';
    return {
      parameters: {
        ...base,
        'feedback.kind': 'review',
        'feedback.body': text,
        'feedback.url': review.url,
        'feedback.path': first?.path ?? '',
        'feedback.line': first?.line === null || first === undefined ? '' : String(first.line),
        'feedback.diff_hunk': first === undefined ? '' : boundedTail(first.diffHunk, followUpBounds.diffHunk),
      },
      summary: `the review of ${review.login ?? read.login}`,
      ...(first === undefined ? {} : { reactTo: { kind: 'review-comment' as const, id: first.id } }),
    };
  }

  /**
   * What a failed check reported: a check run's own output; for a workflow run (whose delivery
   * carries none), the log of its first failed job read through the Actions API, and the names of
   * the failed jobs and steps. A log GitHub no longer has leaves the names.
   */
  async #checkFailure(forge: ReviewForge, read: Extract<PullRequestEvent, { kind: 'check' }>): Promise<{ readonly report: string; readonly said: string }> {
    if (read.workflowRun === undefined) return { report: read.report, said: '' };
    const jobs = await forge.readFailedJobs(read.workflowRun.id, read.workflowRun.attempt);
    const said = jobs
      .map(
        (job) =>
          ` The job ${job.name} concluded ${job.conclusion}${job.failedSteps.length > 0 ? ` at ${job.failedSteps.map((step) => JSON.stringify(step)).join(', ')}` : ''}.`,
      )
      .join('');
    const first = jobs[0];
    return { report: first === undefined ? read.report : `${first.name}:\n${first.log}`, said };
  }

  /** 👀 on the comment that asked; a review without line comments, or a check, gets a comment naming the run instead. */
  async #acknowledge(
    forge: ReviewForge,
    pull: { readonly number: number },
    read: Exclude<PullRequestEvent, { kind: 'ignored' | 'stop-label' }>,
    reactTo: { kind: 'issue-comment' | 'review-comment'; id: string } | undefined,
    runId: string,
  ): Promise<void> {
    if (reactTo !== undefined) return this.#react(forge, reactTo);
    const what = read.kind === 'check' ? `the failed check ${read.name}` : 'this review';
    await forge.commentOnChangeRequest(String(pull.number), `👀 Working on ${what}: follow-up run \`${runId}\`.`);
  }

  async #react(forge: ReviewForge, comment: { kind: 'issue-comment' | 'review-comment'; id: string }): Promise<void> {
    await forge.addReaction(comment, 'eyes');
  }

  /** The pull request with its branch, head, base and address (read from the forge when the payload lacks them), or undefined when it is gone or closed. */
  async #completed(forge: ReviewForge, pull: PullRequestAt): Promise<Required<Pick<PullRequestAt, 'number' | 'branch' | 'head' | 'base' | 'url'>> | undefined> {
    // A closed or merged pull request asks for nothing more: its branch may be gone, or shipped.
    if (pull.state !== undefined && pull.state !== 'open') return undefined;
    if (pull.branch !== undefined && pull.head !== undefined && pull.base !== undefined && pull.url !== undefined)
      return { number: pull.number, branch: pull.branch, head: pull.head, base: pull.base, url: pull.url };
    const read = await forge.readChangeRequest(String(pull.number));
    if (read === null || read.state !== 'open') return undefined;
    return { number: pull.number, branch: read.branch, head: read.head, base: read.target, url: read.url };
  }

  async #assertMayAsk(actor: AuditActor, login: string, what: string): Promise<void> {
    const role = await this.#permissions.readPermission(this.#repository, login);
    if (permissionsAllowedToRun.includes(role)) return;
    const reason = `${login} has ${role === 'none' ? 'no access' : `the ${role} role`} on ${this.#repository}; to ${what} needs write, maintain or admin`;
    await this.#deny(actor, reason);
    throw new CairnError('CAIRN_FORBIDDEN', `Not allowed: ${reason}.`, {
      details: { action: requestedAction, login, role },
      action: `Ask someone with write access to ${this.#repository} to comment instead, or have ${login} given write access there.`,
    });
  }

  async #deny(actor: AuditActor, reason: string): Promise<void> {
    await this.#service.hostAudit.accessDenied({ actor, entity: loopEntity, requestedAction, reason });
  }
}
