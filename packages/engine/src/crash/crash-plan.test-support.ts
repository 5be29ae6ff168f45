// What the crash test's parent and child agree on: the seeded run spec and the kill point syntax.

/** A small seeded PRNG (mulberry32): the same seed gives the same DAG and the same kill plan. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A whole number in [low, high] (both included). */
export function between(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

export const itemCount = 500;
/** The planner among them (ADR 0034): its fragment joins the run once, whenever the engine dies. */
export const plannerId = 'item-250';
/** How many items the planner emits (each task emits this many when its argv says `emit`). */
export const emittedCount = 25;
/** The run's items once it has grown. */
export const grownItemCount = itemCount + emittedCount;
/** Every incarnation submits with this key: a resubmit after a crash returns the same run. */
export const idempotencyKey = 'crash-test-run';

export interface CrashItem {
  readonly id: string;
  readonly dependsOn?: string[];
  readonly retry?: { readonly maxAttempts: number; readonly backoff: { readonly initial: string; readonly jitter: false } };
  readonly emits?: { readonly maxItems: number };
  readonly runtime: { readonly kind: 'command'; readonly argv: string[] };
}

/**
 * The run every incarnation submits: `itemCount` items, each depending on 0–3 earlier ones; a
 * quarter may retry (3 attempts, 5 ms apart), and about a third of those fail their first attempt
 * (`fail-first`), so retries happen; one (`plannerId`) is a planner emitting `emittedCount` items,
 * half of them waiting on the other half, which what depends on the planner then waits for.
 * Deterministic in `seed`, so every resubmit has the same digest.
 */
export function crashRunSpec(seed: number): { version: 1; name: string; items: CrashItem[] } {
  const random = seededRandom(seed);
  const items: CrashItem[] = [];
  for (let index = 0; index < itemCount; index++) {
    const id = `item-${String(index).padStart(3, '0')}`;
    const wanted = index === 0 ? 0 : Math.min(index, between(random, 0, 3));
    const dependsOn = new Set<string>();
    while (dependsOn.size < wanted) dependsOn.add(items[between(random, 0, index - 1)]!.id);
    const retries = random() < 0.25;
    const failsFirst = retries && random() < 0.35;
    items.push({
      id,
      ...(dependsOn.size > 0 ? { dependsOn: [...dependsOn].sort() } : {}),
      ...(retries ? { retry: { maxAttempts: 3, backoff: { initial: '5ms', jitter: false } } } : {}),
      ...(id === plannerId ? { emits: { maxItems: emittedCount } } : {}),
      runtime: { kind: 'command', argv: id === plannerId ? ['emit', String(emittedCount)] : failsFirst ? ['fail-first'] : ['true'] },
    });
  }
  return { version: 1, name: `crash-${seed}`, items };
}

/** The planners of the planner crash test's run: one kill is aimed at the success of each. */
export const chainedPlanners = 21;
/** The id of the `index`th planner of the chain (from 0). */
export const chainedPlannerId = (index: number) => `plan-${String(index).padStart(2, '0')}`;
/** The planner crash test's run once every planner's fragment has joined it. */
export const chainGrownItemCount = 3 + chainedPlanners * (1 + emittedCount);

/**
 * The run of the planner crash test: a root, then a chain of planners each waiting on the one
 * before (so on its fragment's sinks once that fragment joins: each planner runs alone, after the
 * last fragment's items ended), an item waiting on the last planner, and one beside them all.
 */
export function plannerChainSpec(): { version: 1; name: string; items: CrashItem[] } {
  const command = (argv: string[]) => ({ kind: 'command' as const, argv });
  const planners = Array.from({ length: chainedPlanners }, (_, index) => ({
    id: chainedPlannerId(index),
    dependsOn: [index === 0 ? 'first' : chainedPlannerId(index - 1)],
    emits: { maxItems: emittedCount },
    // Every other planner's items padded past 32 KiB of output: its fragment joins in steps, each
    // a transaction (ADR 0034's amendment), and the kills land between them too.
    runtime: command(['emit', String(emittedCount), ...(index % 2 === 1 ? ['padded'] : [])]),
  }));
  return {
    version: 1,
    name: 'crash-planner-chain',
    items: [
      { id: 'first', runtime: command(['true']) },
      ...planners,
      { id: 'after', dependsOn: [chainedPlannerId(chainedPlanners - 1)], runtime: command(['true']) },
      { id: 'beside', runtime: command(['true']) },
    ],
  };
}

/** The runs a crash child can submit: the crash test's seeded one, or the planner crash test's chain. */
export type CrashRunName = 'seeded' | 'planner-chain';

/**
 * Where a child kills itself (SIGKILL, on the Nth time it gets there), or `linger` (the parent
 * kills it after a delay; the child stays alive after its run so the kill always lands), or
 * `none` (the last incarnation, which must finish the run).
 */
export const failpointKinds = [
  /** The Nth `now()` inside submit's transaction: mid submit. */
  'submit-now',
  /** Before the Nth executor start: the dispatch is committed, the executor knows nothing. */
  'executor-start',
  /** The Nth task body after its start is recorded by the executor, before its result exists. */
  'task-ran',
  /** After the Nth result record is written, before the executor marks the task exited. */
  'task-result',
  /** Before the Nth pushed exit reaches the engine: the result exists, no completion is recorded. */
  'exit-push',
  /** After the Nth manifest is stored, before its dispatch is committed. */
  'manifest-put',
  /** Before the Nth checkpoint is signed: mid checkpoint, nothing recorded yet. */
  'checkpoint-sign',
  /** Before the first checkpoint signed once the run has ended: its end is committed, no checkpoint covers it. */
  'run-end-checkpoint',
  /** After the Nth checkpoint is anchored, before the engine records it anchored. */
  'anchor-publish',
  /** The Nth `now()` after submit: inside one of the engine's transactions, wherever it is. */
  'engine-now',
  /**
   * The Nth moment after the first planner's result this process writes (see `PlannerMoment`): a
   * write to the engine's database or a commit of it, a group commit sent or acknowledged, a
   * stored object, an executor start, a pushed exit.
   */
  'planner-moment',
  /** Once that planner's window is printed: before the first item of its fragment is started. */
  'planner-window-end',
] as const;

/**
 * The moments `planner-moment` counts, after the first planner's result this process writes:
 * before the first write of a transaction to the engine's database (mid-transaction: it rolls
 * back) or a write outside one, after a transaction commits; before a group commit is sent
 * (PostgreSQL), after it is acknowledged; after an object is stored; before an executor start;
 * before a pushed exit reaches the engine.
 */
export type PlannerMoment = 'write' | 'commit' | 'group-commit' | 'group-committed' | 'storage-put' | 'executor-start' | 'exit-push';

export type FailpointKind = (typeof failpointKinds)[number];

export type KillPoint = { readonly kind: FailpointKind; readonly count: number } | { readonly kind: 'linger' } | { readonly kind: 'none' };

export function formatKillPoint(point: KillPoint): string {
  return 'count' in point ? `${point.kind}:${point.count}` : point.kind;
}

export function parseKillPoint(text: string): KillPoint {
  if (text === 'linger' || text === 'none') return { kind: text };
  const [kind, count] = text.split(':');
  if (!(failpointKinds as readonly string[]).includes(kind!) || !(Number(count) >= 1)) throw new Error(`not a kill point: ${text}`);
  return { kind: kind as FailpointKind, count: Number(count) };
}
