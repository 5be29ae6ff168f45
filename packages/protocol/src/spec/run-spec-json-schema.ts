import { z } from 'zod';
import { CairnError } from '../errors/cairn-error.ts';
import { digestSchema } from '../schemas/digest-schema.ts';
import { runSpecV1Schema } from './run-spec-schema.ts';

/** The name the schema goes by: the MCP server serves it as this resource. */
const schemaId = 'cairn://schema/run-spec';

// What a field means, for a reader that has only the schema (a model choosing its input). The
// shape comes from `runSpecV1Schema`; these words come from docs/reference/run-spec.md. A field
// named here that the schema lacks throws, so the two cannot drift apart unnoticed.
const topLevelMeanings: Record<string, string> = {
  version: 'The spec format version: always 1.',
  name: 'A human name for the run.',
  workspace:
    'The files the items start from: `snapshot` is the sha256: digest of a stored workspace snapshot (a tar uploaded to /v1/blobs); `path` is a folder for the submitting client to snapshot and upload (cairn mcp does; the server never reads it); `repository` (an https:// URL, or the name of a forge of the server, whose token is then used) and `ref` (a branch, tag or commit) name a git repository the server fetches when the run is submitted, with recent history, recording the `commit` it fetched and its `snapshot`. Without a snapshot, items start in an empty folder.',
  concurrency: 'Items of this run running at once (global and queue limits hold too).',
  priority:
    "The run's dispatch priority, 1 (lowest) to 5 (highest), 3 by default: its ready items go before lower ones, FIFO within one level, and a waiting item rises one level every priorityAgingSeconds (a server setting) so low ones are not starved. Items inherit it; an item's own priority overrides it.",
  idempotencyKey: 'The same key and the same spec return the same run; the same key with another spec is CAIRN_IDEMPOTENCY_CONFLICT.',
  labels:
    'Free labels for filtering: a key is letters, digits, ".", "_", "-", "/", ":", "@" and "+", starting with a letter or digit (app.example.com/team); a value is one line of text without control characters.',
  defaults: 'Fields every item inherits unless it sets them itself.',
  items: 'The work items (at least one); they form a DAG through dependsOn and needs.',
};
const itemMeanings: Record<string, string> = {
  id: 'Unique in the run: letters, digits, ".", "_" and "-", starting with a letter or digit.',
  runtime:
    'What runs in the sandbox, with the workspace as its current folder: { kind: "command", argv: [program, ...arguments] } runs argv without a shell (use ["/bin/sh", "-c", "..."] for one), or { kind: "agent", adapter, prompt }; or { kind: "merge", from: [itemId, ...] }, which runs nothing and merges the patches of those items, in that order, into one.',
  dependsOn: 'Item ids that must have succeeded before this item starts.',
  needs:
    'Inputs from upstream items, by a name of your choice: { from: itemId, select: patch | output | stdout | stderr }. Each arrives as the file $CAIRN_INPUTS/<name>; a need implies a dependency.',
  apply: 'Names of `needs` entries selecting a patch, applied in order to the workspace before the runtime starts.',
  priority: "This item's dispatch priority, 1 (lowest) to 5 (highest); overrides the run's (priority, defaults.priority).",
  locks:
    'Global named locks, across all runs, taken all-or-nothing at dispatch: a name (exclusive) or { name, mode: exclusive | shared }. A name is letters, digits, ".", "_", "-", "/", ":", "@" and "+", starting with a letter or digit (deploy, file:src/shared.ts).',
  labels: "Free labels of this item, as the run's: keys like lock names, values one line of text.",
  timeout: 'Wall-clock limit of one attempt: a whole number and one unit of ms, s, m, h or d (30s, 10m, 2h).',
  retry: 'Attempts (the first one counts) and the backoff between them.',
  effect: 'pure results are reused for equal inputs; read-impure (default) may read the outside world; write-impure changes it.',
  approval:
    'required: the item waits in awaiting-approval until a person approves it. A policy { required: N, from: [role or group], selfApproval: false, timeout, onTimeout: reject | approve } waits for N distinct people allowed by it (the submitter not among them unless selfApproval); one rejection, with a reason, ends the wait.',
  secrets: 'Names of server secrets handed to the task as environment variables (the token must be granted each one).',
  env: 'Plain environment variables for the runtime.',
  network:
    'The sandbox\'s network: false (the default) is none, true is unrestricted, and { allow: [host, *.domain, host:port], credentials: [{ host, secret, as: { header, value: "Bearer {secret}" } }] } admits only the listed hosts (names, not IP addresses; 443 and 80 without a port), with the item\'s secrets sent to their hosts by the proxy. A server refuses an allow-list its executors cannot enforce.',
  runsOn:
    "On an executor that routes by labels (the server's runners, ADR 0050): { labels: [gpu, pool=build] } runs the item only on a runner with every label. A server refuses runsOn where the item's executor does not route by labels.",
  forEach:
    'Once `from` succeeds, runs this item once per element of the JSON array at `path` of its output ($ then .name and [index] steps), as <id>/0, <id>/1, ..., each given its element as the input file `as` (element by default); what depends on it waits for all. It takes no other prerequisite.',
  emits:
    'A planner: once it succeeds, the `items` of its output.json (a run-spec fragment) join the run under its id (plan/fix-auth), and what depends on it waits for all of them. { maxItems, maxDepth } bound the fragment and how deep emission nests (1 by default: its items emit none).',
};

let cached: Record<string, unknown> | undefined;

/**
 * The run spec (`cairn.run/v1`) as a JSON Schema (draft 2020-12), generated from
 * `runSpecV1Schema` so it cannot disagree with what the server accepts, with the meaning of the
 * main fields as `description`s. It holds the shape only: graph rules (unknown ids, cycles) are
 * checked by `validateRunSpec`. Each call returns a fresh copy the caller may change.
 */
export function runSpecJsonSchema(): Record<string, unknown> {
  cached ??= generate();
  return structuredClone(cached);
}

function generate(): Record<string, unknown> {
  const schema = z.toJSONSchema(runSpecV1Schema, {
    target: 'draft-2020-12',
    io: 'input',
    // A digest is checked by a function in zod; in JSON Schema it is the pattern that function checks.
    unrepresentable: 'any',
    override: (context) => {
      if (context.zodSchema === digestSchema) Object.assign(context.jsonSchema, { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' });
    },
  }) as Record<string, unknown>;
  const described = {
    $schema: schema['$schema'],
    $id: schemaId,
    title: 'Cairn run spec (cairn.run/v1)',
    description: 'A DAG of work items Cairn runs in sandboxes. Send it as JSON or YAML; docs/reference/run-spec.md says more.',
    ...schema,
  };
  describe(described, topLevelMeanings);
  describe(child(child(child(described, 'properties'), 'items'), 'items'), itemMeanings);
  return described;
}

function describe(objectSchema: Record<string, unknown>, meanings: Record<string, string>): void {
  const properties = child(objectSchema, 'properties');
  for (const [field, meaning] of Object.entries(meanings)) child(properties, field)['description'] = meaning;
}

function child(node: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = node[key];
  if (typeof value !== 'object' || value === null) {
    throw new CairnError(
      'CAIRN_INTERNAL',
      `The run spec JSON Schema has no "${key}" where a field's description belongs: update the meanings in run-spec-json-schema.ts to the run spec's fields.`,
    );
  }
  return value as Record<string, unknown>;
}
