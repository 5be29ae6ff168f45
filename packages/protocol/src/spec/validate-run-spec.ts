import type { Digest, RunSpecV1 } from '@cairn/core';
import type { z } from 'zod';
import { CairnError, type ValidationIssue } from '../errors/cairn-error.ts';
import { canonicalJson } from '../json/canonical-json.ts';
import { sha256Digest } from '../json/digest.ts';
import { describeZodIssues } from './describe-zod-issue.ts';
import { documentHazards } from './document-hazards.ts';
import { itemGraphIssues } from './item-graph.ts';
import { candidateIssues } from './candidate-issues.ts';
import { networkIssues, type NetworkContext } from './network-issues.ts';
import { runsOnIssues, type RunsOnContext } from './runs-on-issues.ts';
import { parseRunSpec, type ParseRunSpecOptions } from './parse-run-spec.ts';
import { runSpecV1Schema } from './run-spec-schema.ts';
import { didYouMean } from './suggest-name.ts';

/**
 * What the server knows exists. When a list is given, names outside it are refused (with a
 * suggestion); when it is absent, any well-formed name passes.
 */
export interface RunSpecContext extends NetworkContext, RunsOnContext {
  readonly executors?: readonly string[];
  readonly queues?: readonly string[];
  readonly adapters?: readonly string[];
  readonly secrets?: readonly string[];
  /**
   * Secrets an item running a given agent adapter must name (the API key its runtime is configured
   * with): a runtime's key reaches an item only as that item's own secret, granted to its submitter.
   */
  readonly adapterSecrets?: Readonly<Record<string, readonly string[]>>;
  /** The forges a deliver item may name (`runtime.forge`); none when the server has none configured. */
  readonly forges?: readonly string[];
}

/** A valid run spec, its canonical JSON and the digest of that. */
export interface LoadedRunSpec {
  readonly spec: RunSpecV1;
  readonly digest: Digest;
  readonly canonical: string;
}

export type RunSpecValidation =
  | { readonly ok: true; readonly spec: RunSpecV1; readonly digest: Digest; /** The spec's canonical JSON, which `digest` is of. */ readonly canonical: string }
  | { readonly ok: false; readonly issues: readonly ValidationIssue[] };

/** Beyond this many, issues are summarised: a broken 10,000-item spec needs a start, not a flood. */
const reportedIssuesLimit = 200;

/**
 * Checks a parsed run spec completely and reports every problem at once, each with its JSON path
 * and what to do: hazards (prototype keys, depth), the `cairn.run/v1` shape, the item graph
 * (`itemGraphIssues`), and the names the server knows (`context`). On success, returns the spec
 * its canonical JSON and the digest of that, which identifies it for idempotency.
 */
export function validateRunSpec(document: unknown, context: RunSpecContext = {}): RunSpecValidation {
  const hazards = documentHazards(document);
  if (hazards.length > 0) return { ok: false, issues: hazards };
  const parsed = runSpecV1Schema.safeParse(document, { reportInput: true });
  if (!parsed.success) {
    // Still check the graph of whatever is well-formed enough, so a typo in one field does not
    // hide a cycle elsewhere: every problem is reported at once.
    const shapeIssues = describeZodIssues(parsed.error.issues, runSpecFieldNames);
    const graph = graphView(document);
    const graphIssues = graph ? itemGraphIssues(graph).filter((issue) => !shapeIssues.some((shape) => shape.path === issue.path)) : [];
    return { ok: false, issues: limitIssues([...shapeIssues, ...graphIssues]) };
  }
  const spec = parsed.data;
  const issues = [
    ...itemGraphIssues(spec),
    ...priorityIssues(spec),
    ...unknownNameIssues(spec, context),
    ...networkIssues(spec, context),
    ...runsOnIssues(spec, context),
    ...candidateIssues(spec),
  ];
  if (issues.length > 0) return { ok: false, issues: limitIssues(issues) };
  const canonical = canonicalJson(spec);
  return { ok: true, spec, digest: sha256Digest(canonical), canonical };
}

/**
 * Parses and validates in one step, for callers that want an exception: throws a CairnError whose
 * `issues` lists every problem (CAIRN_RUN_SPEC_TOO_LARGE when any problem is a size limit,
 * CAIRN_RUN_SPEC_INVALID otherwise, CAIRN_RUN_SPEC_UNPARSABLE for syntax).
 */
export function loadRunSpec(text: string, options: ParseRunSpecOptions & { readonly context?: RunSpecContext } = {}): LoadedRunSpec {
  return assertRunSpec(parseRunSpec(text, options), options);
}

/** `validateRunSpec` for an already parsed document, throwing as `loadRunSpec` does. */
export function assertRunSpec(document: unknown, options: { readonly source?: string; readonly context?: RunSpecContext } = {}): LoadedRunSpec {
  const result = validateRunSpec(document, options.context);
  if (result.ok) return { spec: result.spec, digest: result.digest, canonical: result.canonical };
  const source = options.source ?? 'The run spec';
  const code = result.issues.some((issue) => issue.code === 'CAIRN_RUN_SPEC_TOO_LARGE') ? 'CAIRN_RUN_SPEC_TOO_LARGE' : 'CAIRN_RUN_SPEC_INVALID';
  const [first] = result.issues;
  const count = result.issues.length === 1 ? '1 problem' : `${result.issues.length} problems`;
  throw new CairnError(code, `${source} has ${count}; the first: ${first!.path} ${first!.message}`, { path: first!.path, issues: result.issues });
}

/**
 * The parts of a malformed document the graph rules read (ids, dependsOn, needs, apply, locks, a
 * merge's items),
 * keeping item positions so paths stay right; fields of the wrong type are left out. Undefined
 * when there is no list of items at all.
 */
function graphView(document: unknown): RunSpecV1 | undefined {
  const items = (document as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return undefined;
  const strings = (value: unknown) => (Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : undefined);
  const record = (value: unknown) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);
  const view = items.map((raw, index) => {
    const item = record(raw) ?? {};
    const needs = Object.fromEntries(
      Object.entries(record(item['needs']) ?? {}).flatMap(([name, need]) => {
        const from = record(need)?.['from'];
        // select is only read by the apply rule; a malformed one (already reported) is no patch.
        const select = record(need)?.['select'];
        return typeof from === 'string' ? [[name, { from, select: typeof select === 'string' ? select : 'malformed' }]] : [];
      }),
    );
    const locks = Array.isArray(item['locks'])
      ? item['locks'].filter((lock) => typeof lock === 'string' || typeof record(lock)?.['name'] === 'string')
      : undefined;
    const runtime = record(item['runtime']);
    const merged = runtime?.['kind'] === 'merge' ? strings(runtime['from']) : undefined;
    const delivered = runtime?.['kind'] === 'deliver' && typeof runtime['from'] === 'string' ? runtime['from'] : undefined;
    return {
      // A placeholder id nobody can reference keeps a malformed item out of the graph rules.
      id: typeof item['id'] === 'string' ? item['id'] : `\u0000item ${index}`,
      // Only a merge's and a delivery's items are read by the graph rules; any other runtime is a placeholder.
      runtime:
        merged !== undefined
          ? { kind: 'merge', from: merged }
          : delivered !== undefined
            ? { kind: 'deliver', forge: '', from: delivered, branch: '', base: '', title: '' }
            : { kind: 'command', argv: [] },
      dependsOn: strings(item['dependsOn']),
      needs,
      apply: strings(item['apply']),
      locks,
    };
  });
  return { version: 1, name: '', items: view } as unknown as RunSpecV1;
}

// The run's priority is said once: `priority` and `defaults.priority` mean the same thing, and two
// different values would leave the run shown at one priority while its items ran at another.
function priorityIssues(spec: RunSpecV1): ValidationIssue[] {
  if (spec.priority === undefined || spec.defaults?.priority === undefined) return [];
  return [
    {
      code: 'CAIRN_RUN_SPEC_INVALID',
      path: '$.defaults.priority',
      message: `gives the run's priority a second time ($.priority is ${spec.priority}). Keep one of them; an item's own priority overrides either.`,
    },
  ];
}

/** The name of the server's executor of deliver items (`@cairn/engine`'s `deliverExecutorName`). */
const deliverExecutor = 'deliver';

function unknownNameIssues(spec: RunSpecV1, context: RunSpecContext): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const check = (name: string | undefined, known: readonly string[] | undefined, path: string, what: string) => {
    if (name === undefined || known === undefined || known.includes(name)) return;
    issues.push({
      code: 'CAIRN_RUN_SPEC_INVALID',
      path,
      message: `names no ${what} this server knows: ${JSON.stringify(name)}${didYouMean(name, known) || '.'} Known: ${known.join(', ') || 'none'}.`,
    });
  };
  check(spec.defaults?.executor, context.executors, '$.defaults.executor', 'executor');
  // The server's `deliver` executor runs deliver items only (they go to it whatever they name).
  const deliverOnly = (path: string) =>
    issues.push({
      code: 'CAIRN_RUN_SPEC_INVALID',
      path,
      message: `names the deliver executor, which runs only deliver items (runtime: { kind: deliver }, which run on it by themselves); name another executor or leave it out.`,
    });
  if (spec.defaults?.executor === deliverExecutor) deliverOnly('$.defaults.executor');
  check(spec.defaults?.queue, context.queues, '$.defaults.queue', 'queue');
  spec.items.forEach((item, index) => {
    const base = `$.items[${index}]`;
    if (item.executor === deliverExecutor && item.runtime.kind !== 'deliver') deliverOnly(`${base}.executor`);
    else check(item.executor, context.executors, `${base}.executor`, 'executor');
    check(item.queue, context.queues, `${base}.queue`, 'queue');
    if (item.runtime.kind === 'agent') {
      const { adapter } = item.runtime;
      check(adapter, context.adapters, `${base}.runtime.adapter`, 'agent adapter');
      const missing = (context.adapterSecrets?.[adapter] ?? []).filter((secret) => !item.secrets?.includes(secret));
      if (missing.length > 0) {
        issues.push({
          code: 'CAIRN_RUN_SPEC_INVALID',
          path: `${base}.secrets`,
          message: `must name ${missing.join(', ')}: the ${adapter} runtime of this server takes its API key from ${missing.length === 1 ? 'that secret' : 'those secrets'}, which reach an item only when it names them (secrets: [${[...(item.secrets ?? []), ...missing].join(', ')}]).`,
        });
      }
    }
    if (item.runtime.kind === 'deliver') {
      if (context.forges !== undefined && context.forges.length === 0)
        issues.push({
          code: 'CAIRN_RUN_SPEC_INVALID',
          path: `${base}.runtime.forge`,
          message: `names the forge ${JSON.stringify(item.runtime.forge)}, but this server has no forges: configure one under forges: in its config (docs/operations/configuration.md).`,
        });
      else check(item.runtime.forge, context.forges, `${base}.runtime.forge`, 'forge');
    }
    item.secrets?.forEach((secret, position) => check(secret, context.secrets, `${base}.secrets[${position}]`, 'secret'));
  });
  return issues;
}

function limitIssues(issues: ValidationIssue[]): ValidationIssue[] {
  if (issues.length <= reportedIssuesLimit) return issues;
  const shown = issues.slice(0, reportedIssuesLimit);
  shown.push({
    code: issues[reportedIssuesLimit]!.code,
    path: '$',
    message: `and ${issues.length - reportedIssuesLimit} more problems not shown; fix these first.`,
  });
  return shown;
}

/** Every field name the run spec schema knows, for did-you-mean on unknown fields. */
const runSpecFieldNames: ReadonlySet<string> = collectFieldNames(runSpecV1Schema);

function collectFieldNames(schema: z.core.$ZodType, names = new Set<string>(), seen = new Set<unknown>()): Set<string> {
  if (seen.has(schema)) return names;
  seen.add(schema);
  const definition = schema._zod.def as unknown as Record<string, unknown>;
  const shape = definition['shape'] as Record<string, z.core.$ZodType> | undefined;
  if (shape) {
    for (const [name, child] of Object.entries(shape)) {
      names.add(name);
      collectFieldNames(child, names, seen);
    }
  }
  for (const key of ['innerType', 'element', 'valueType', 'in', 'out']) {
    const child = definition[key] as z.core.$ZodType | undefined;
    if (child?._zod) collectFieldNames(child, names, seen);
  }
  for (const option of (definition['options'] as z.core.$ZodType[] | undefined) ?? []) collectFieldNames(option, names, seen);
  return names;
}
