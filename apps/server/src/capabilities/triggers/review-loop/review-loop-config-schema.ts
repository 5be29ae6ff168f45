import { z } from 'zod';

/**
 * `triggers.github.reviewLoop`: review comments, `@cairn` mentions and failing checks on the pull
 * requests Cairn delivered start follow-up runs from `template` (ADR 0052), delivered to the same
 * branch. Its deliveries arrive at `/v1/triggers/github` with the issue events: the webhook
 * subscribes to Pull requests, Pull request reviews, Pull request review comments, Issue comments,
 * Check runs and Workflow runs.
 */
export const reviewLoopConfigSchema = z.strictObject({
  /** The template a follow-up runs (`templates:`); it takes the feedback as parameters (`feedback.body`, `pull.branch`, …). */
  template: z.string().min(1, 'must name a template of templates:, e.g. answer-review'),
  /** The forge (`forges:`, kind github) whose pull requests are watched: its repository, and the branches its deliveries recorded. */
  forge: z.string().min(1, 'must name a forge of forges: (kind github), e.g. github'),
  /** Who a pull request comment mentions to ask for a follow-up (`@cairn fix the lint`), and to say `@cairn stop` or `@cairn resume`. */
  handle: z
    .string()
    .regex(/^@[A-Za-z0-9][A-Za-z0-9-]{0,38}$/, 'must be @ and a GitHub-style name, e.g. @cairn')
    .default('@cairn'),
  /** A label that, on a pull request, ends its loop until removed. */
  stopLabel: z.string().min(1).max(100).default('cairn:stop'),
  /** Follow-ups one pull request may have (counted again from zero after `@cairn resume`). */
  maxFollowUpsPerPullRequest: z.int().min(1).max(100).default(3),
  /**
   * What one pull request's follow-ups may spend on models, in US dollars (their runs' `model.called`
   * spend since it was last resumed); none unless set. Each run is bounded by its template's budget too.
   */
  maxSpendPerPullRequestUsd: z.number().positive('must be more than 0 (leave it out for no cap)').optional(),
  /**
   * How much of a failed check's report, or of a failed workflow job's log (read through the
   * Actions API), a follow-up is given as `check.log_excerpt`: its last lines, then of those its
   * last bytes, credentials redacted.
   */
  logExcerpt: z
    .strictObject({
      maxLines: z.int().min(1).max(2_000).default(100),
      maxBytes: z.int().min(256).max(16_000).default(4_000),
    })
    .default({ maxLines: 100, maxBytes: 4_000 }),
  /** Follow-ups the server starts in any hour, across every pull request. */
  maxFollowUpsPerHour: z.int().min(1).max(10_000).default(20),
});

export type ReviewLoopConfig = z.output<typeof reviewLoopConfigSchema>;
