import type { DeliverRuntimeSpec } from '@cairn/core';
import { z } from 'zod';
import type { SchemaImplements } from '../schemas/schema-implements.ts';
import { runSpecLimits as limits } from './run-spec-limits.ts';

/** The placeholder `branch` and `title` may hold: replaced by the run's id when the item delivers. */
export const deliverRunIdPlaceholder = '{runId}';

/**
 * The text `{runId}` becomes in a branch name: the run's id with every character a branch name
 * cannot hold (a schedule's run id has `@` and `:`) turned into `-`, so the branch stays valid
 * for any run.
 */
export function fillDeliverPlaceholders(text: string, runId: string, within: 'branch' | 'title'): string {
  const value = within === 'branch' ? runId.replace(/[^A-Za-z0-9._-]/g, '-') : runId;
  return text.replaceAll(deliverRunIdPlaceholder, value);
}

/**
 * git's rules for a branch name (`git check-ref-format --branch`): no control characters, space,
 * `~ ^ : ? * [ \`, `..`, `@{`, empty component, component starting with `.` or ending with
 * `.lock`, trailing `.` or `/`, not `HEAD` or `@`, no leading `-`. The same rule as the forges'.
 */
const brokenBranchName = /[\u0000-\u0020\u007f~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.lock(?:\/|$)|(?:^|\/)\.|\.$|^-|^(?:HEAD|@)$/;
// A run id as `{runId}` becomes in a branch (`r-` and base 36 and hex): checks the name as pushed.
const sampleRunId = 'r-000000000-000000000000';
const branchName = z
  .string()
  .min(1, 'must name a branch, e.g. cairn/fix-{runId}')
  .max(200, 'must be at most 200 characters')
  // A full ref would be pushed as refs/heads/refs/heads/main: a branch is named without the prefix.
  .refine((branch) => !branch.startsWith('refs/'), 'must be a branch name, not a full ref: write "main", not "refs/heads/main"')
  .refine(
    (branch) => !brokenBranchName.test(fillDeliverPlaceholders(branch, sampleRunId, 'branch')),
    'must be a branch name git accepts (git check-ref-format: no spaces, "..", "~", "^", ":", "?", "*", "[", "\\", "@{", a leading "-" or ".", a trailing "/", "." or ".lock"); {runId} may stand for the run\'s id',
  );
const line = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'must be one line of text (no line break, tab or other control character)');

/**
 * `runtime: { kind: deliver, forge, from, branch, base, title, body?, takeOver? }`: the shape only. That
 * `from` names another item of the run whose patch can be delivered is an item graph rule
 * (`itemGraphIssues`), and that `forge` is one the server has is checked against what it knows.
 */
export const deliverRuntimeSpecSchema = z.strictObject({
  kind: z.literal('deliver'),
  forge: z
    .string()
    .min(1, 'must name a forge of the server config (forges:)')
    .max(limits.nameLength, `must be at most ${limits.nameLength} characters`)
    .meta({ description: "The name of a forge in the server's config (forges: NAME: { kind: git | github, ... })." }),
  from: z
    .string()
    .min(1, 'must name the item whose patch is delivered')
    .max(limits.nameLength, `must be at most ${limits.nameLength} characters`)
    .meta({ description: 'The id of the item of this run whose patch is delivered (a command, agent or merge item); the deliver item depends on it.' }),
  branch: branchName.meta({
    description:
      "The branch pushed, e.g. cairn/fix-{runId} ({runId}: the run's id, characters a branch cannot hold turned into -). Delivering again to the same branch replaces its commit and updates its change request; a branch another run delivered only with takeOver.",
  }),
  base: branchName.meta({ description: 'The branch the commit is built on (its tip when the item delivers) and the change request targets, e.g. main.' }),
  title: line.meta({ description: "The commit's subject and the change request's title; {runId} stands for the run's id." }),
  body: z
    .string()
    .max(limits.textLength, `must be at most ${limits.textLength} characters`)
    .exactOptional()
    .meta({ description: "Markdown put first in the commit message and the change request's body, before the run's summary, spend and evidence links." }),
  takeOver: z.boolean().exactOptional().meta({
    description:
      "Replace the branch though another run delivered it (a delivered branch belongs to the run that delivered it; without this another run's delivery is refused, CAIRN_FORGE_CONFLICT). The reference server lets only a submitter with the branches:take-over scope say it.",
  }),
});
true satisfies SchemaImplements<typeof deliverRuntimeSpecSchema, DeliverRuntimeSpec>;
