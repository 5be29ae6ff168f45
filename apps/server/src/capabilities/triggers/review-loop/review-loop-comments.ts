import { dollars } from '@cairn/protocol/format';
import type { FollowUpAdmission } from './review-loop-store.ts';

/** What the loop says on a pull request: each bound names itself and how to lift it (ADR 0052). */
export function boundComment(
  admission: Exclude<FollowUpAdmission, { admitted: true }>,
  options: { readonly handle: string; readonly stopLabel: string },
): string {
  switch (admission.bound) {
    case 'stopped':
      return [
        `The review loop of this pull request is stopped (${admission.stoppedBy}): this feedback started no follow-up run.`,
        '',
        `To resume it, someone with write access comments \`${options.handle} resume\`${admission.stoppedBy.includes(options.stopLabel) ? ` and removes the label \`${options.stopLabel}\`` : ''}.`,
      ].join('\n');
    case 'pull-request':
      return [
        `This pull request has had ${admission.count} follow-up runs, the most the server allows one pull request (\`triggers.github.reviewLoop.maxFollowUpsPerPullRequest\`: ${admission.max}): this feedback started none.`,
        '',
        `To allow more, someone with write access comments \`${options.handle} resume\` (the count starts again), or the server's operator raises the option.`,
      ].join('\n');
    case 'hour':
      return [
        `The server has started ${admission.count} follow-up runs in the last hour, the most it allows (\`triggers.github.reviewLoop.maxFollowUpsPerHour\`: ${admission.max}): this feedback started none.`,
        '',
        `Ask again after ${new Date(admission.freeAt).toISOString().slice(0, 16).replace('T', ' ')} UTC, or the server's operator raises the option.`,
      ].join('\n');
  }
}

/** The comment that says a pull request's follow-ups have spent what it may. */
export function spendComment(spentUsd: number, maxUsd: number, options: { readonly handle: string }): string {
  return [
    `This pull request's follow-up runs have spent ${dollars(spentUsd)} on models, at least what the server allows one pull request (\`triggers.github.reviewLoop.maxSpendPerPullRequestUsd\`: ${dollars(maxUsd)}): this feedback started none.`,
    '',
    `To allow more, someone with write access comments \`${options.handle} resume\` (the spend is counted again from then), or the server's operator raises the option.`,
  ].join('\n');
}

/** The comment that says the loop stopped or resumed, and how to undo it. */
export function stopComment(stopped: boolean, by: string, options: { readonly handle: string; readonly stopLabel: string }): string {
  return stopped
    ? `Stopped the review loop of this pull request (${by}): no feedback starts a follow-up run until someone with write access comments \`${options.handle} resume\`${by.includes(options.stopLabel) ? ` and removes the label \`${options.stopLabel}\`` : ''}.`
    : `Resumed the review loop of this pull request (${by}): feedback starts follow-up runs again, counted afresh.`;
}
