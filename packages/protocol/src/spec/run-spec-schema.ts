import type {
  AgentRuntimeSpec,
  ApprovalPolicySpec,
  BackoffSpec,
  BudgetSpec,
  EmitsSpec,
  ForEachSpec,
  CommandRuntimeSpec,
  ItemDefaultsSpec,
  ItemSpec,
  LockSpec,
  NeedSpec,
  RetrySpec,
  RunSpecV1,
  RunsOnSpec,
  WorkspaceSpec,
} from '@cairn/core';
import { z } from 'zod';
import { digestSchema } from '../schemas/digest-schema.ts';
import { durationPattern } from '../json/duration.ts';
import type { SchemaImplements } from '../schemas/schema-implements.ts';
import { mergeRuntimeSpecSchema } from './merge-runtime-spec-schema.ts';
import { deliverRuntimeSpecSchema } from './deliver-runtime-spec-schema.ts';
import { parseJsonPath } from '../json/select-json-path.ts';
import { runSpecLimits as limits } from './run-spec-limits.ts';
import { priorityLevels } from './priority-levels.ts';
import { networkSpecSchema } from './network-spec-schema.ts';
import { environmentSpecSchema } from './environment-spec-schema.ts';
import { runnerLabelsSchema } from '../runner/runner-label.ts';
import { candidatesSpecSchema, selectSpecSchema } from './candidates-spec-schema.ts';

// Field shapes shared by several places of the spec. Each message says what to write instead.
const identifierPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// Lock names and label keys are names, shown and compared as written (a lock in the dashboard's
// wait notice and in an attempt's lockWait): an identifier's characters, plus the "/" and ":" of
// namespaced names (file:src/shared.ts, team.example.com/owner) and the "@" and "+" of paths
// (file:packages/@scope/x.ts, lib/c++); no markup, no whitespace.
// Widening this later breaks no spec; narrowing it would.
const qualifiedNamePattern = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/;
// The control characters (C0, DEL, C1), as storage keys refuse them: a newline or an escape
// sequence in text shown on one line forges lines in a log or repaints a terminal.
const noControlCharacterPattern = /^[^\u0000-\u001f\u007f-\u009f]*$/;
const environmentNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

const identifier = z
  .string()
  .min(1, 'must not be empty')
  .max(limits.nameLength, `must be at most ${limits.nameLength} characters`)
  .regex(identifierPattern, 'must start with a letter or digit and hold only letters, digits, ".", "_" and "-"');
const name = z.string().min(1, 'must not be empty').max(limits.nameLength, `must be at most ${limits.nameLength} characters`);
const oneLine = 'must not hold a control character (a newline, a tab, an escape: U+0000 to U+001F, U+007F to U+009F); write it as one line of text';
// A run's name is shown in lists and logs, where a line break could pass for another entry.
const runName = name.regex(noControlCharacterPattern, oneLine);
const qualifiedName = name.regex(qualifiedNamePattern, 'must start with a letter or digit and hold only letters, digits, ".", "_", "-", "/", ":", "@" and "+"');
const text = z.string().max(limits.textLength, `must be at most ${limits.textLength} characters`);
// What is handed to a process (its arguments, environment, prompt) cannot hold a NUL: exec stops
// the string there, so the program would run with other input than the spec says.
const noNul = { error: 'must not hold a NUL character (\\u0000): a program cannot be given one' };
const processText = text.refine((value) => !value.includes('\0'), noNul);
const duration = z.string().regex(durationPattern, 'must be a duration: a positive whole number and one unit of ms, s, m, h or d (30s, 10m, 2h)');
// Dispatch priority (ItemPriority): 5 goes first, 1 last; 3 when nothing sets one. The five values
// listed rather than a range: a value out of it is a wrong value, not a size limit, and the JSON
// Schema says them as an enum.
const priority = z.literal([1, 2, 3, 4, 5], `must be a whole number from ${priorityLevels.lowest} (lowest) to ${priorityLevels.highest} (highest)`);
const environmentName = z
  .string()
  .max(limits.nameLength, `must be at most ${limits.nameLength} characters`)
  .regex(environmentNamePattern, 'must be an environment variable name: letters, digits and "_", not starting with a digit');

function list<Element extends z.ZodType>(element: Element) {
  return z.array(element).max(limits.listEntries, `must hold at most ${limits.listEntries} entries`);
}

function map<Key extends z.ZodType<string>, Value extends z.ZodType>(key: Key, value: Value) {
  return z.record(key, value).refine((entries) => Object.keys(entries).length <= limits.mapEntries, {
    error: `must hold at most ${limits.mapEntries} entries`,
    params: { limit: 'mapEntries' },
  });
}

// A label value stays free text, but on one line.
const labels = map(qualifiedName, z.string().max(1_024, 'must be at most 1024 characters').regex(noControlCharacterPattern, oneLine));

export const backoffSpecSchema = z.strictObject({
  initial: duration.exactOptional(),
  factor: z.number().min(1, 'must be at least 1').max(10, 'must be at most 10').exactOptional(),
  max: duration.exactOptional(),
  jitter: z.boolean().exactOptional(),
});
true satisfies SchemaImplements<typeof backoffSpecSchema, BackoffSpec>;

export const retrySpecSchema = z.strictObject({
  maxAttempts: z.int('must be a whole number').min(1, 'must be at least 1 (the first attempt counts)').max(100, 'must be at most 100').exactOptional(),
  backoff: backoffSpecSchema.exactOptional(),
});
true satisfies SchemaImplements<typeof retrySpecSchema, RetrySpec>;

export const commandRuntimeSpecSchema = z.strictObject({
  kind: z.literal('command'),
  argv: list(
    z
      .string()
      .max(limits.argumentLength, `must be at most ${limits.argumentLength} characters`)
      .refine((value) => !value.includes('\0'), noNul),
  )
    .min(1, 'must name the program to run: [program, ...arguments]')
    .refine((argv) => argv[0] !== '', { error: 'must be the program to run, not an empty string', path: [0] }),
});
true satisfies SchemaImplements<typeof commandRuntimeSpecSchema, CommandRuntimeSpec>;

export const agentRuntimeSpecSchema = z.strictObject({
  kind: z.literal('agent'),
  adapter: identifier,
  prompt: processText.refine((value) => value.length > 0, 'must not be empty: say what the agent should do'),
  model: name.exactOptional(),
  maxTurns: z.int('must be a whole number').min(1, 'must be at least 1').max(10_000, 'must be at most 10000').exactOptional(),
});
true satisfies SchemaImplements<typeof agentRuntimeSpecSchema, AgentRuntimeSpec>;

export const runtimeSpecSchema = z.discriminatedUnion(
  'kind',
  [commandRuntimeSpecSchema, agentRuntimeSpecSchema, mergeRuntimeSpecSchema, deliverRuntimeSpecSchema],
  {
    error:
      'must be { kind: command, argv: [...] }, { kind: agent, adapter, prompt }, { kind: merge, from: [...] } or { kind: deliver, forge, from, branch, base, title }',
  },
);

const effect = z.enum(['pure', 'read-impure', 'write-impure'], 'must be pure, read-impure or write-impure');
const pathRules = z.enum(['portable', 'posix'], 'must be portable (paths that check out on Linux, Windows and macOS) or posix');
const onLost = z.enum(['retry', 'fail'], 'must be retry or fail');

export const lockSpecSchema = z.union(
  [qualifiedName, z.strictObject({ name: qualifiedName, mode: z.enum(['exclusive', 'shared'], 'must be exclusive or shared').exactOptional() })],
  {
    error: 'must be a lock name, or { name, mode: exclusive | shared }',
  },
);
true satisfies SchemaImplements<typeof lockSpecSchema, LockSpec>;

// The subset of JSON paths the worker reads: $, then .name and [index] steps.
const jsonPath = z
  .string()
  .max(500, 'must be at most 500 characters')
  .refine((path) => parseJsonPath(path) !== undefined, 'must be a JSON path of $, .name and [index] steps, e.g. $.tests or $.runs[0].failures');

export const needSpecSchema = z
  .strictObject({
    from: identifier,
    select: z.enum(['patch', 'output', 'stdout', 'stderr'], 'must be patch, output, stdout or stderr'),
    path: jsonPath.exactOptional(),
  })
  .refine((need) => need.path === undefined || need.select === 'output', { path: ['path'], message: 'is read only with select: output (a JSON output)' });
true satisfies SchemaImplements<typeof needSpecSchema, NeedSpec>;

// A budget of 0 would stop the work before it starts: a budget is positive, or left out.
export const budgetSpecSchema = z
  .strictObject({
    usd: z
      .number('must be a number of US dollars')
      .positive('must be more than 0 (leave the budget out for none)')
      .max(1_000_000, 'must be at most 1000000')
      .exactOptional(),
    tokens: z
      .int('must be a whole number of tokens')
      .min(1, 'must be at least 1 (leave the budget out for none)')
      .max(1e12, 'must be at most 1e12')
      .exactOptional(),
  })
  .refine((budget) => budget.usd !== undefined || budget.tokens !== undefined, 'must set usd, tokens or both');
true satisfies SchemaImplements<typeof budgetSpecSchema, BudgetSpec>;

// A run holds at most 100,000 items, a fragment as many; emission nests at most 10 deep.
export const emitsSpecSchema = z.strictObject({
  maxItems: z.int('must be a whole number of items').min(1, 'must be at least 1').max(100_000, 'must be at most 100000'),
  maxDepth: z.int('must be a whole number').min(1, 'must be at least 1').max(10, 'must be at most 10').exactOptional(),
});
true satisfies SchemaImplements<typeof emitsSpecSchema, EmitsSpec>;

export const forEachSpecSchema = z.strictObject({
  from: identifier,
  select: z.literal('output', 'must be output: an item maps over a JSON array of an upstream output'),
  path: jsonPath,
  maxItems: z.int('must be a whole number of items').min(1, 'must be at least 1').max(100_000, 'must be at most 100000'),
  as: identifier.exactOptional(),
});
true satisfies SchemaImplements<typeof forEachSpecSchema, ForEachSpec>;

// An approval policy (ADR 0041): `required` distinct approvers, limited to roles or groups by
// `from`. A bound on `required` keeps a typo (1000) from making an item that nobody can release.
export const approvalPolicySpecSchema = z.strictObject({
  required: z.int('must be a whole number').min(1, 'must be at least 1').max(limits.listEntries, `must be at most ${limits.listEntries}`),
  from: list(qualifiedName).min(1, 'must name at least one role or group (leave `from` out to count anyone allowed to approve)').exactOptional(),
  selfApproval: z.boolean('must be true or false').exactOptional(),
  timeout: duration.exactOptional(),
  onTimeout: z.enum(['reject', 'approve'], 'must be reject or approve').exactOptional(),
});
true satisfies SchemaImplements<typeof approvalPolicySpecSchema, ApprovalPolicySpec>;

const approval = z.union([z.enum(['required', 'none']), approvalPolicySpecSchema], {
  error: 'must be required, none, or a policy { required: N, from: [role or group], selfApproval, timeout, onTimeout: reject | approve }',
});

const runsOnSpecSchema = z.strictObject({
  labels: runnerLabelsSchema.min(1, 'must list at least one label (leave runsOn out for any runner)'),
});
true satisfies SchemaImplements<typeof runsOnSpecSchema, RunsOnSpec>;

export const itemDefaultsSpecSchema = z.strictObject({
  executor: identifier.exactOptional(),
  queue: identifier.exactOptional(),
  priority: priority.exactOptional(),
  timeout: duration.exactOptional(),
  retry: retrySpecSchema.exactOptional(),
  effect: effect.exactOptional(),
  onLost: onLost.exactOptional(),
  network: networkSpecSchema.exactOptional(),
  runsOn: runsOnSpecSchema.exactOptional(),
  pathRules: pathRules.exactOptional(),
  budget: budgetSpecSchema.exactOptional(),
  stallTimeout: duration.exactOptional(),
  environment: environmentSpecSchema.exactOptional(),
});
true satisfies SchemaImplements<typeof itemDefaultsSpecSchema, ItemDefaultsSpec>;

export const itemSpecSchema = z.strictObject({
  id: identifier,
  description: text.exactOptional(),
  runtime: runtimeSpecSchema,
  dependsOn: list(identifier).exactOptional(),
  needs: map(identifier, needSpecSchema).exactOptional(),
  apply: list(identifier).exactOptional(),
  locks: list(lockSpecSchema).exactOptional(),
  queue: identifier.exactOptional(),
  priority: priority.exactOptional(),
  executor: identifier.exactOptional(),
  timeout: duration.exactOptional(),
  retry: retrySpecSchema.exactOptional(),
  effect: effect.exactOptional(),
  onLost: onLost.exactOptional(),
  approval: approval.exactOptional(),
  secrets: list(environmentName).exactOptional(),
  env: map(environmentName, processText).exactOptional(),
  network: networkSpecSchema.exactOptional(),
  environment: environmentSpecSchema.exactOptional(),
  runsOn: runsOnSpecSchema.exactOptional(),
  pathRules: pathRules.exactOptional(),
  budget: budgetSpecSchema.exactOptional(),
  stallTimeout: duration.exactOptional(),
  emits: emitsSpecSchema.exactOptional(),
  forEach: forEachSpecSchema.exactOptional(),
  candidates: candidatesSpecSchema.exactOptional(),
  select: selectSpecSchema.exactOptional(),
  labels: labels.exactOptional(),
});
true satisfies SchemaImplements<typeof itemSpecSchema, ItemSpec>;

// A branch, tag or commit as `git fetch` takes it: no leading "-" (an option) or "+" (a forced
// refspec), no ":" (a refspec's destination), no "..", "@{", spaces or the characters git refuses in
// ref names. git checks the rest (`git check-ref-format`). The pattern is the characters only, with
// no lookahead, so the published JSON Schema's pattern is one every validator and generator reads;
// the sequences git refuses are a refinement beside it.
const gitRefPattern = /^[A-Za-z0-9_][A-Za-z0-9._/-]*$/;

export const workspaceSpecSchema = z
  .strictObject({
    path: z.string().min(1, 'must not be empty').max(4_096, 'must be at most 4096 characters').exactOptional(),
    snapshot: digestSchema.exactOptional(),
    repository: z
      .string()
      .max(2_048, 'must be at most 2048 characters')
      .superRefine((repository, context) => {
        const problem = repositoryProblem(repository);
        if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
      })
      .exactOptional(),
    ref: z
      .string()
      .min(1, 'must not be empty')
      .max(255, 'must be at most 255 characters')
      .regex(gitRefPattern, 'must be a branch, tag or commit of the repository (main, v1.2.0, refs/heads/main): letters, digits, ".", "_", "-" and "/"')
      .refine((ref) => !ref.endsWith('/') && !ref.endsWith('.'), 'must not end with "/" or "."')
      .refine(
        (ref) => !ref.includes('..') && !ref.includes('//') && !ref.endsWith('.lock'),
        'must not hold ".." or "//", nor end with ".lock" (git refuses such names)',
      )
      .exactOptional(),
    commit: z
      .string()
      .regex(/^[0-9a-f]{40}$/, 'must be a full commit id (40 lowercase hex digits)')
      .exactOptional(),
  })
  .superRefine((workspace, context) => {
    const issue = (path: string, message: string) => context.addIssue({ code: 'custom', path: [path], message });
    if (workspace.repository === undefined) {
      if (workspace.ref !== undefined) issue('ref', 'names a branch, tag or commit of `repository`, which is not set');
      if (workspace.commit !== undefined) issue('commit', 'is the commit the server fetched from `repository`, which is not set');
      return;
    }
    if (workspace.path !== undefined) issue('path', 'cannot be given with `repository`: the workspace comes from one or the other');
    if (workspace.ref === undefined) issue('ref', 'must name the branch, tag or commit of `repository` to fetch (ref: main)');
    // Both are written by the server once it fetched the repository, never one without the other.
    if (workspace.snapshot !== undefined && workspace.commit === undefined)
      issue('commit', 'must be set with `snapshot` and `repository`: the server writes both when it fetches');
  });
true satisfies SchemaImplements<typeof workspaceSpecSchema, WorkspaceSpec>;

/** Hosts where a repository may be fetched over plain http:// (tests, a mirror on this machine). */
const loopbackHosts = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** A forge of the server's config (`forges:`), by the name deliver items give as `runtime.forge`. */
const forgeNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * What is wrong with a workspace's `repository`, if anything: an https:// URL, http:// on loopback
 * only, an absolute path on the server (which a server takes only where its config allows), or the
 * name of a forge of the server's config (whose token the fetch then uses); never credentials in
 * the URL (they would be stored in the spec and the audit log).
 */
function repositoryProblem(repository: string): string | undefined {
  if (repository.startsWith('/')) return repository.includes('\0') ? 'must not hold a NUL character' : undefined;
  if (forgeNamePattern.test(repository)) return undefined;
  let url: URL;
  try {
    url = new URL(repository);
  } catch {
    return 'must be the https:// URL of a git repository (https://github.com/org/repo.git) or the name of a forge of the server (forges: in its config)';
  }
  if (url.username !== '' || url.password !== '') return "must not carry credentials: the server's config holds them";
  if (url.search !== '' || url.hash !== '') return 'must not have a query or a fragment';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return loopbackHosts.has(url.hostname) ? undefined : 'must be https:// (plain http:// only on loopback)';
  return `must be an https:// URL of a git repository, not ${url.protocol}`;
}

/** The run spec, `cairn.run/v1`: the shape only. Graph rules are checked by `validateRunSpec`. */
export const runSpecV1Schema = z.strictObject({
  version: z.literal(1, 'must be 1 (the only run spec version)'),
  name: runName,
  description: text.exactOptional(),
  workspace: workspaceSpecSchema.exactOptional(),
  concurrency: z.int('must be a whole number').min(1, 'must be at least 1').max(10_000, 'must be at most 10000').exactOptional(),
  priority: priority.exactOptional(),
  idempotencyKey: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').exactOptional(),
  labels: labels.exactOptional(),
  defaults: itemDefaultsSpecSchema.exactOptional(),
  budget: budgetSpecSchema.exactOptional(),
  items: z.array(itemSpecSchema).min(1, 'must hold at least one item').max(limits.items, `must hold at most ${limits.items} items; split the run`),
});
true satisfies SchemaImplements<typeof runSpecV1Schema, RunSpecV1>;
