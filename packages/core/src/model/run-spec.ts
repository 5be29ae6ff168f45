import type { Digest } from './digest.ts';

/**
 * A duration: a positive whole number and one unit of `ms`, `s`, `m`, `h`, `d` (`500ms`, `30s`,
 * `10m`, `2h`). Parsed by `@cairn/protocol` (`parseDuration`).
 */
export type DurationText = string;

/**
 * What an item may do outside its own patch, which decides what Cairn may reuse or gate:
 * - `pure`: output depends only on its inputs; a success with the same input digest is reused.
 * - `read-impure` (default): reads the outside world (network, clock); never reused.
 * - `write-impure`: changes the outside world (deploys, posts); recorded in the manifest and
 *   usually gated by `approval: required`.
 */
export type ItemEffect = 'pure' | 'read-impure' | 'write-impure';

/**
 * Whether an item waits for approval before it may start: `required` (one approver, anyone allowed
 * to approve, the submitter included), `none`, or a policy (ADR 0041).
 */
export type ItemApproval = 'required' | 'none' | ApprovalPolicySpec;

/**
 * An approval policy: the item waits until `required` distinct people allowed by it approve; one
 * rejection (which needs a reason) ends the wait.
 */
export interface ApprovalPolicySpec {
  /** How many distinct approvers it needs. */
  required: number;
  /** The roles or groups (as the server's authorizer knows them) an approver needs one of; anyone allowed to approve when left out. */
  from?: string[];
  /** Whether the run's submitter may approve it; false by default. */
  selfApproval?: boolean;
  /** How long it waits for its approvals; the server's approvalTimeoutMs when left out. */
  timeout?: DurationText;
  /** What a wait that times out ends in: `reject` (the item fails; the default) or `approve` (it runs). */
  onTimeout?: 'reject' | 'approve';
}

/** A global named lock. Exclusive unless `mode: shared`; readers share, a writer excludes all. */
export type LockMode = 'exclusive' | 'shared';

/** A lock as written in a run spec: a bare name (exclusive) or `{ name, mode }`. */
export type LockSpec = string | { name: string; mode?: LockMode };

/** Which artifact of an upstream item a `needs` entry resolves to. */
export type NeedSelection = 'patch' | 'output' | 'stdout' | 'stderr';

/** One input of an item: an artifact of an upstream (transitively depended-on) item. */
export interface NeedSpec {
  /** The producing item's id; it must be upstream of the consumer. */
  from: string;
  /** Which of the producer's artifacts the consumer receives (by digest, in its manifest). */
  select: NeedSelection;
  /** With `select: output`: only this part of the producer's JSON output (`$.tests[3]`), as JSON. */
  path?: string;
}

/**
 * One item per element of a JSON array an upstream item produced (`forEach` of an item): once
 * `from` succeeds, the item is run once for each element of its output at `path`, as `<item>/0`,
 * `<item>/1`, ..., each receiving its element as the input file `as` (`element` by default); what
 * depends on the item waits for all of them.
 */
export interface ForEachSpec {
  from: string;
  select: 'output';
  path: string;
  /** The most elements it maps over: a longer list fails the item, naming both. */
  maxItems: number;
  as?: string;
}

/** Exponential backoff between attempts: `initial * factor^(attempt-1)`, capped, with jitter. */
export interface BackoffSpec {
  initial?: DurationText;
  factor?: number;
  max?: DurationText;
  /** Full jitter (a uniform delay in `[0, computed]`); default true. */
  jitter?: boolean;
}

/** Retry policy of an item. `maxAttempts` counts the first attempt (1 = never retry). */
export interface RetrySpec {
  maxAttempts?: number;
  backoff?: BackoffSpec;
}

/** Run a program in the workspace: deterministic, offline by default. */
export interface CommandRuntimeSpec {
  kind: 'command';
  /** Program and arguments; no shell is involved. */
  argv: string[];
}

/** Run an AI agent through a named RuntimeAdapter (`claude-code`, `openai-compatible`, ...). */
export interface AgentRuntimeSpec {
  kind: 'agent';
  adapter: string;
  prompt: string;
  model?: string;
  /** Upper bound on the agent's tool-calling turns. */
  maxTurns?: number;
}

/**
 * What a merge item does when a producer's patch conflicts with what was merged before it:
 * - `fail` — the attempt fails with CAIRN_MERGE_CONFLICT, naming the producer, the paths and the
 *   conflicting hunks.
 * - `rerun` — the producer runs again on top of what was merged before it, as a new item of the
 *   run (`<merge>/<producer>`, audited as a growth of the run), and the merge then merges its
 *   patch in the producer's place. Each producer is re-run at most once: a re-run built on what
 *   was merged before it applies cleanly there, so a second conflict of the same producer fails.
 */
export type MergeConflictPolicy = 'fail' | 'rerun';

/**
 * Merge the patches of other items of the run into one: on the workspace snapshot, the patch of
 * each item of `from` is applied in the order given, with git's three-way merge, and the item's
 * patch is the combined change. A merge item depends on every item of `from` (as `needs` would
 * make it); an item of `from` that changed nothing is skipped. The worker merges by itself, with
 * no sandbox and no runtime adapter: it runs no program of the spec's.
 */
export interface MergeRuntimeSpec {
  kind: 'merge';
  /**
   * Ids of items of the run whose patches are merged, in this order (at least one, each once, not
   * the item itself). An item listed after another may depend on it, never the reverse: an item
   * that applied another's patch made its own on top of it, so it is merged after it.
   */
  from: string[];
  /** What a conflict ends with; `fail` (the default). */
  onConflict?: MergeConflictPolicy;
}

/**
 * Deliver the patch of another item of the run to a forge the server is configured with: one
 * commit on the forge's `base` branch, pushed as `branch`, and where the forge has change requests
 * one opened (or updated) over it. It runs in the server, never in a sandbox (the forge's token is
 * a server secret), depends on `from` (as a merge depends on its items), and is `write-impure` with
 * `onLost: fail` unless it says otherwise. `branch` and `title` may hold `{runId}`, replaced by the
 * run's id.
 */
export interface DeliverRuntimeSpec {
  kind: 'deliver';
  /** The name of a forge in the server's config (`forges:`). */
  forge: string;
  /** The item whose patch is delivered (a command's, an agent's or a merge's). */
  from: string;
  /** The branch pushed (`cairn/fix-{runId}`); delivering again to it replaces its commit. */
  branch: string;
  /** The branch the commit is built on and the change request targets (`main`). */
  base: string;
  /** The commit's subject and the change request's title. */
  title: string;
  /** Markdown put before the run's summary in the commit message and the change request's body. */
  body?: string;
  /**
   * Replace `branch` though another run delivered it. A delivered branch belongs to the run that
   * delivered it; without this, another run's delivery to it is refused (CAIRN_FORGE_CONFLICT). A
   * host decides who may say it (the reference server: the `branches:take-over` scope).
   */
  takeOver?: boolean;
}

/**
 * How an item does its work: in the sandbox (`command`, `agent`), merged by the worker (`merge`),
 * or delivered by the server (`deliver`).
 */
export type RuntimeSpec = CommandRuntimeSpec | AgentRuntimeSpec | MergeRuntimeSpec | DeliverRuntimeSpec;

/**
 * What the engine does with an attempt that was lost — its executor no longer knows the task,
 * typically because the host (or the server that ran it) died — rather than failed:
 * - `retry`: re-run the item without spending its `retry` budget, at most 3 times per item (after
 *   that a lost attempt counts as a failed one), so an item that kills its host cannot loop forever.
 * - `fail`: the lost attempt counts as a failed attempt; the item's `retry` policy decides.
 * Default: `retry`, except for `write-impure` items (`fail`): their lost attempt may already have
 * had external effects, which a re-run could repeat.
 */
export type ItemOnLost = 'retry' | 'fail';

/**
 * What model calls may spend, as the model gateway meters them (ADR 0033): US dollars from the
 * price table, and tokens (input, output and cached, all counted). Reaching either stops the work:
 * an item's attempt ends with CAIRN_BUDGET_EXCEEDED; a run dispatches no further agent item and
 * waits, `awaiting-budget`, until the budget is raised or the run is cancelled.
 */
export interface BudgetSpec {
  usd?: number;
  tokens?: number;
}

/**
 * How soon a ready item is dispatched, from 1 (lowest) to 5 (highest); 3 when nothing sets it.
 * Higher goes first, FIFO by ready time within one level, and a waiting item rises one level every
 * `priorityAgingSeconds` (an engine setting) so a low one still runs under a stream of high ones.
 */
export type ItemPriority = 1 | 2 | 3 | 4 | 5;

/** Settings an item inherits unless it sets its own. */
export interface ItemDefaultsSpec {
  executor?: string;
  queue?: string;
  /** The items' dispatch priority, as `ItemSpec.priority`; the run's own (`RunSpecV1.priority`) when it is given here. */
  priority?: ItemPriority;
  timeout?: DurationText;
  retry?: RetrySpec;
  effect?: ItemEffect;
  onLost?: ItemOnLost;
  network?: NetworkSpec;
  runsOn?: RunsOnSpec;
  pathRules?: PathRules;
  budget?: BudgetSpec;
  stallTimeout?: DurationText;
  environment?: EnvironmentSpec;
}

/**
 * Where an item may run on an executor that routes by labels (runners, ADR 0050): on a runner that
 * has every label listed. An executor that does not route by labels refuses an item with one at
 * submit rather than run it anywhere.
 */
export interface RunsOnSpec {
  labels: string[];
}

/**
 * A warm environment (ADR 0056): `setup` runs once per host over the workspace snapshot, in a
 * sandbox with the item's rules; what it writes becomes a read-only layer under every attempt that
 * has the same key (the contents of the `key` files, the argv, `base`). Nothing it wrote enters a patch.
 */
export interface EnvironmentSpec {
  /** The setup command, run in the workspace as a command item's argv is (no shell unless given one). */
  setup: { argv: string[] };
  /**
   * Workspace-relative files whose content decides what the setup makes; absent, the common
   * lockfiles found at the workspace's top (package-lock.json, pnpm-lock.yaml, uv.lock, go.sum …).
   */
  key?: string[];
  /** How long the setup may run, in seconds; 900 by default. */
  timeoutSeconds?: number;
  /** What the setup may write: bytes, or a size such as "2GiB"; 4 GiB by default. */
  diskLimit?: number | string;
  /** What the setup runs on (an image or toolchain name): part of the key only. */
  base?: string;
}

/**
 * An item's network (ADR 0049): `false` (the default) is loopback alone, `true` the whole internet
 * ("unrestricted"), and an allow-list only the hosts it names, through a proxy that also brokers
 * credentials. A server refuses an allow-list it cannot enforce (CAIRN_RUN_SPEC_INVALID at
 * `network`) rather than run the item with more network than the spec says.
 */
export type NetworkSpec = boolean | NetworkAllowListSpec;

/** Only the hosts listed are reachable. */
export interface NetworkAllowListSpec {
  /**
   * Host names, `*.domain` (any name below the domain, not the domain itself), either with
   * `:port` (443 and 80 without one). Names only: IP literals are refused.
   */
  allow: string[];
  /** Secrets the proxy puts into requests to one host; the item sees only a placeholder. */
  credentials?: NetworkCredentialSpec[];
}

/** A secret bound to one host: the proxy replaces its placeholder, or sets `as.header`, for that host alone. */
export interface NetworkCredentialSpec {
  /** A host the allow-list admits (no wildcard). */
  host: string;
  /** A secret the item names in its own `secrets`. */
  secret: string;
  /** A header the proxy sets on each request to `host`: `value` holds `{secret}` where the secret goes (`Bearer {secret}`). */
  as?: { header: string; value: string };
}

/**
 * What the paths an item's patch adds must satisfy: `portable` (the default) — they check out
 * alike on Linux, Windows and macOS (no `\ : * ? " < > |` or control characters, no trailing dot or
 * space, no reserved device name, valid UTF-8, no two paths differing only in case); `posix` —
 * only what git and the worker need.
 */
export type PathRules = 'portable' | 'posix';

/** One work item of a run. */
export interface ItemSpec {
  /** Unique in the run: letters, digits, `-`, `_`, `.`; starts with a letter or digit. */
  id: string;
  description?: string;
  runtime: RuntimeSpec;
  /** Items that must succeed before this one may start. */
  dependsOn?: string[];
  /** Named inputs from upstream items; an input implies a dependency on its producer. */
  needs?: Record<string, NeedSpec>;
  /** Names of `needs` entries selecting a patch, applied (in order) before the runtime starts. */
  apply?: string[];
  locks?: LockSpec[];
  queue?: string;
  /** Overrides the run's priority (`RunSpecV1.priority`, `defaults.priority`) for this item. */
  priority?: ItemPriority;
  executor?: string;
  timeout?: DurationText;
  retry?: RetrySpec;
  effect?: ItemEffect;
  /** What a lost attempt (its host died) means for the item; see `ItemOnLost`. */
  onLost?: ItemOnLost;
  approval?: ItemApproval;
  /** Names of secrets handed to the task out of band; values never enter the spec or the log. */
  secrets?: string[];
  /** Plain (non-secret) environment variables for the runtime. */
  env?: Record<string, string>;
  /** The sandbox's network: none (`false`, the default), unrestricted (`true`), or an allow-list. */
  network?: NetworkSpec;
  /** A setup run once per host and key, whose files every attempt sees (ADR 0056); replaces the default's whole. */
  environment?: EnvironmentSpec;
  /** The labels a runner must have to take the item (see RunsOnSpec). */
  runsOn?: RunsOnSpec;
  /** The rules for paths the item's patch adds; `portable` by default. */
  pathRules?: PathRules;
  /** What each attempt's model calls may spend (an agent item's); none by default. */
  budget?: BudgetSpec;
  /**
   * How long an attempt may go without a model call and without output before it is ended with
   * CAIRN_ATTEMPT_STALLED (a stuck agent, told apart from one that is slow); none by default.
   */
  stallTimeout?: DurationText;
  /**
   * The item is a planner: once it succeeds, the `items` of its `output.json` (a run-spec fragment)
   * join the run under its id (`plan/fix-auth`), and what depended on it waits for all of them.
   */
  emits?: EmitsSpec;
  /** Runs the item once per element of an upstream item's JSON output (ADR 0034). */
  forEach?: ForEachSpec;
  /** Runs the item as several candidates side by side, one of which is its result (ADR 0053); needs `select`. */
  candidates?: CandidatesSpec;
  /** How the winner among `candidates` is chosen (ADR 0053). */
  select?: SelectSpec;
  labels?: Record<string, string>;
}

/**
 * Best of N (ADR 0053): `count` attempts of the item run side by side as one round, each over its
 * own workspace; candidate k runs the item changed by `vary[k-1]` (candidates past the list run it
 * as written).
 */
export interface CandidatesSpec {
  /** How many candidates a round runs: 2 to 16. */
  count: number;
  vary?: CandidateVariation[];
}

/** What one candidate changes of its item: `prompt` and `model` of an agent, `argv` of a command, `env` of either (merged over the item's). */
export interface CandidateVariation {
  prompt?: string;
  model?: string;
  argv?: string[];
  env?: Record<string, string>;
}

/** How the winner among an item's candidates is chosen (ADR 0053). */
export interface SelectSpec {
  /** Run over each candidate's patch in a sandbox of its own: exit 0 passes, a last stdout line that is a number is its score. */
  check: CandidateCheckSpec;
  /** Among passing candidates: the highest `score`, the `smallest-diff`, or the `first` checked. */
  order: CandidateOrder;
  /** The first passing candidate wins at once and the others are cancelled. */
  stopOnFirstPass?: boolean;
  /** An agent that chooses among two or more passing candidates (ADR 0053); it only advises: a refused answer leaves the order to decide. */
  judge?: CandidateJudgeSpec;
}

/** The judge of a round (ADR 0053): an agent in a sandbox of its own, given the passing candidates' patches and check output tails, no secrets. */
export interface CandidateJudgeSpec {
  runtime: AgentRuntimeSpec;
  env?: Record<string, string>;
  /** Its own wall-clock limit; 10m by default. */
  timeout?: DurationText;
}

export interface CandidateCheckSpec {
  argv: string[];
  /** The check's own wall-clock limit; 10m by default. */
  timeout?: DurationText;
}

export type CandidateOrder = 'score' | 'smallest-diff' | 'first';

/** What a planner item may add to its run (`emits`). */
export interface EmitsSpec {
  /** The most items its fragment may hold. */
  maxItems: number;
  /** How deep emission may nest under it: 1 (the default) lets its items emit none themselves. */
  maxDepth?: number;
}

/** Where the run's workspace comes from. */
export interface WorkspaceSpec {
  /** A directory on the submitting machine; the CLI snapshots it and fills in `snapshot`. */
  path?: string;
  /** Digest of the workspace snapshot (a tar) in storage. */
  snapshot?: Digest;
  /**
   * A git repository the server fetches the workspace from when the run is submitted (an https://
   * URL, or the name of a forge of the server's config, whose token it then uses), instead of an
   * uploaded snapshot; the server then fills in `commit` and `snapshot`.
   */
  repository?: string;
  /** The branch, tag or commit of `repository` to fetch (with `repository` only). */
  ref?: string;
  /** The commit `ref` named when the server fetched it: written by the server, never by the submitter. */
  commit?: string;
}

/** A run spec, `cairn.run/v1`, as written by a user in YAML or JSON. */
export interface RunSpecV1 {
  version: 1;
  name: string;
  description?: string;
  workspace?: WorkspaceSpec;
  /** Items of this run running at once; default unlimited (bounded by global and queue limits). */
  concurrency?: number;
  /** The run's priority (`ItemPriority`), which its items inherit; or say it as `defaults.priority`, not both. */
  priority?: ItemPriority;
  /** Same key + same spec digest returns the same run; same key + another spec is a conflict. */
  idempotencyKey?: string;
  labels?: Record<string, string>;
  defaults?: ItemDefaultsSpec;
  /** What the run's model calls together may spend; reached, the run waits (`awaiting-budget`). */
  budget?: BudgetSpec;
  items: ItemSpec[];
}
