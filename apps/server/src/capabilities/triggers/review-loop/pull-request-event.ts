/** A pull request as a delivery names it; the fields a payload lacks are read from the forge. */
export interface PullRequestAt {
  readonly number: number;
  /** Its head branch (`cairn/issue-1`). */
  readonly branch?: string;
  /** The commit at its head when the event happened. */
  readonly head?: string;
  /** The branch it targets. */
  readonly base?: string;
  readonly url?: string;
  /** Its labels, when the payload lists them. */
  readonly labels?: readonly string[];
  /** `open` or `closed`, when the payload says. */
  readonly state?: string;
}

/** What a delivery asks of the review loop, or why nothing. */
export type PullRequestEvent =
  | { readonly kind: 'ignored'; readonly reason: string }
  /** A submitted review, or one of its line comments: either way the review is read whole (one follow-up per review). */
  | { readonly kind: 'review'; readonly reviewId: string; readonly pull: PullRequestAt; readonly login: string }
  /** A conversation comment mentioning the handle; `command` when it says only `stop` or `resume` after it. */
  | {
      readonly kind: 'mention';
      readonly commentId: string;
      readonly pull: PullRequestAt;
      readonly login: string;
      readonly body: string;
      readonly url: string;
      readonly command?: 'stop' | 'resume';
    }
  /** A failed check run, or workflow run, on the pull request's head. */
  | {
      readonly kind: 'check';
      /** `check-run:ID`, or `workflow-run:ID:ATTEMPT` (a re-run is another attempt). */
      readonly checkId: string;
      readonly pull: PullRequestAt;
      readonly headSha: string;
      readonly name: string;
      readonly conclusion: string;
      readonly url: string;
      /** What the check reported (its output's title, summary and text), whole: the loop bounds it. A workflow run's delivery carries none. */
      readonly report: string;
      /** For a workflow run: its id and attempt, whose failed jobs' logs the loop reads through the Actions API. */
      readonly workflowRun?: { readonly id: string; readonly attempt: number };
    }
  /** The stop label added to or removed from the pull request. */
  | { readonly kind: 'stop-label'; readonly pull: PullRequestAt; readonly login: string; readonly added: boolean };

/** The conclusions of a check that ask for a follow-up: it failed, or ran out of time. */
const failing = new Set(['failure', 'timed_out']);

/**
 * Reads a GitHub delivery (`event`, its parsed `payload`) as the review loop sees it: pure, so
 * every rule is a table test. Only the shape is read here; whether the pull request is Cairn's,
 * the sender may ask, and the bounds allow are the loop's.
 */
export function pullRequestEventOf(
  event: string | undefined,
  payload: unknown,
  options: { readonly handle: string; readonly stopLabel: string },
): PullRequestEvent {
  const delivery = (payload ?? {}) as GithubPullRequestDelivery;
  const ignored = (reason: string): PullRequestEvent => ({ kind: 'ignored', reason });
  switch (event) {
    case 'pull_request_review': {
      if (delivery.action !== 'submitted') return ignored(`pull_request_review ${String(delivery.action)} asks for nothing (only submitted does)`);
      const state = String(delivery.review?.state ?? '').toLowerCase();
      if (state === 'approved') return ignored('an approving review asks for no change');
      const pull = pullOf(delivery.pull_request);
      const login = delivery.review?.user?.login;
      const reviewId = idOf(delivery.review?.id);
      if (pull === undefined || reviewId === undefined || typeof login !== 'string')
        return ignored('the review delivery names no pull request, review or reviewer');
      return { kind: 'review', reviewId, pull, login };
    }
    case 'pull_request_review_comment': {
      if (delivery.action !== 'created') return ignored(`pull_request_review_comment ${String(delivery.action)} asks for nothing (only created does)`);
      const pull = pullOf(delivery.pull_request);
      const login = delivery.comment?.user?.login;
      const reviewId = idOf(delivery.comment?.pull_request_review_id);
      if (pull === undefined || reviewId === undefined || typeof login !== 'string')
        return ignored('the review comment delivery names no pull request, review or author');
      return { kind: 'review', reviewId, pull, login };
    }
    case 'issue_comment': {
      if (delivery.action !== 'created') return ignored(`issue_comment ${String(delivery.action)} asks for nothing (only created does)`);
      if (delivery.issue?.pull_request === undefined || delivery.issue.pull_request === null) return ignored('the comment is on an issue, not a pull request');
      const body = delivery.comment?.body;
      const login = delivery.comment?.user?.login;
      const commentId = idOf(delivery.comment?.id);
      const number = delivery.issue.number;
      if (typeof body !== 'string' || !mentions(body, options.handle)) return ignored(`the comment does not mention ${options.handle}`);
      if (typeof login !== 'string' || commentId === undefined || typeof number !== 'number')
        return ignored('the comment delivery names no author, comment or pull request');
      const rest = body.replace(mentionPattern(options.handle), ' ').trim().toLowerCase();
      const command = rest === 'stop' ? 'stop' : rest === 'resume' ? 'resume' : undefined;
      const labels = labelsOf(delivery.issue.labels);
      const pull: PullRequestAt = {
        number,
        ...(typeof delivery.issue.html_url === 'string' ? { url: delivery.issue.html_url } : {}),
        ...(labels ? { labels } : {}),
      };
      return {
        kind: 'mention',
        commentId,
        pull,
        login,
        body,
        url: typeof delivery.comment?.html_url === 'string' ? delivery.comment.html_url : '',
        ...(command ? { command } : {}),
      };
    }
    case 'check_run':
    case 'workflow_run': {
      const run = event === 'check_run' ? delivery.check_run : delivery.workflow_run;
      if (delivery.action !== 'completed') return ignored(`${event} ${String(delivery.action)} asks for nothing (only completed does)`);
      const conclusion = String(run?.conclusion);
      if (!failing.has(conclusion)) return ignored(`the ${event === 'check_run' ? 'check' : 'workflow'} concluded ${conclusion}, not failure or timed_out`);
      const pulls = Array.isArray(run?.pull_requests) ? run.pull_requests : [];
      const pull = pullOf(pulls[0]);
      const id = idOf(run?.id);
      if (pull === undefined) return ignored(`the ${event === 'check_run' ? 'check' : 'workflow'} ran on no pull request of this repository`);
      if (id === undefined || typeof run?.head_sha !== 'string') return ignored(`the ${event} delivery names no id or head commit`);
      const output = run.output;
      const report = [output?.title, output?.summary, output?.text]
        .filter((part): part is string => typeof part === 'string' && part.trim() !== '')
        .join('\n\n');
      const attempt = typeof run.run_attempt === 'number' ? run.run_attempt : 1;
      return {
        kind: 'check',
        checkId: event === 'check_run' ? `check-run:${id}` : `workflow-run:${id}:${attempt}`,
        pull,
        headSha: run.head_sha,
        name: typeof run.name === 'string' ? run.name : event,
        conclusion,
        url: typeof run.html_url === 'string' ? run.html_url : '',
        report,
        ...(event === 'workflow_run' ? { workflowRun: { id, attempt } } : {}),
      };
    }
    case 'pull_request': {
      if (delivery.action !== 'labeled' && delivery.action !== 'unlabeled')
        return ignored(`pull_request ${String(delivery.action)} asks for nothing of the review loop`);
      if (delivery.label?.name !== options.stopLabel)
        return ignored(`the label ${JSON.stringify(delivery.label?.name)} is not the stop label ${options.stopLabel}`);
      const pull = pullOf(delivery.pull_request);
      const login = delivery.sender?.login;
      if (pull === undefined || typeof login !== 'string') return ignored('the pull_request delivery names no pull request or sender');
      return { kind: 'stop-label', pull, login, added: delivery.action === 'labeled' };
    }
    default:
      return ignored(`the ${event ?? 'unnamed'} event asks nothing of the review loop`);
  }
}

/** Whether `body` mentions `handle` as GitHub does: not inside another word, name or e-mail address. */
export function mentions(body: string, handle: string): boolean {
  return mentionPattern(handle).test(body);
}

function mentionPattern(handle: string): RegExp {
  return new RegExp(`(?<![\\w@.-])${handle.replace(/[-]/g, '\\-')}(?![\\w-])`, 'gi');
}

function idOf(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? String(value) : undefined;
}

function labelsOf(labels: unknown): string[] | undefined {
  if (!Array.isArray(labels)) return undefined;
  return labels.map((label: { name?: unknown } | null) => label?.name).filter((name): name is string => typeof name === 'string');
}

function pullOf(pull: GithubPull | undefined): PullRequestAt | undefined {
  if (typeof pull?.number !== 'number') return undefined;
  const labels = labelsOf(pull.labels);
  return {
    number: pull.number,
    ...(typeof pull.head?.ref === 'string' ? { branch: pull.head.ref } : {}),
    ...(typeof pull.head?.sha === 'string' ? { head: pull.head.sha } : {}),
    ...(typeof pull.base?.ref === 'string' ? { base: pull.base.ref } : {}),
    ...(typeof pull.html_url === 'string' ? { url: pull.html_url } : {}),
    ...(labels ? { labels } : {}),
    ...(typeof pull.state === 'string' ? { state: pull.state } : {}),
  };
}

interface GithubPull {
  readonly number?: unknown;
  readonly html_url?: unknown;
  readonly head?: { readonly ref?: unknown; readonly sha?: unknown };
  readonly base?: { readonly ref?: unknown };
  readonly labels?: unknown;
  readonly state?: unknown;
}

interface GithubRun {
  readonly id?: unknown;
  readonly name?: unknown;
  readonly head_sha?: unknown;
  readonly conclusion?: unknown;
  readonly html_url?: unknown;
  readonly run_attempt?: unknown;
  readonly pull_requests?: unknown;
  readonly output?: { readonly title?: unknown; readonly summary?: unknown; readonly text?: unknown };
}

/** The fields of GitHub's pull request, review, comment and check payloads the loop reads. */
interface GithubPullRequestDelivery {
  readonly action?: unknown;
  readonly pull_request?: GithubPull;
  readonly review?: { readonly id?: unknown; readonly state?: unknown; readonly user?: { readonly login?: unknown } };
  readonly comment?: {
    readonly id?: unknown;
    readonly body?: unknown;
    readonly html_url?: unknown;
    readonly pull_request_review_id?: unknown;
    readonly user?: { readonly login?: unknown };
  };
  readonly issue?: { readonly number?: unknown; readonly html_url?: unknown; readonly pull_request?: unknown; readonly labels?: unknown };
  readonly check_run?: GithubRun & { readonly pull_requests?: GithubPull[] };
  readonly workflow_run?: GithubRun & { readonly pull_requests?: GithubPull[] };
  readonly label?: { readonly name?: unknown };
  readonly sender?: { readonly login?: unknown };
}
