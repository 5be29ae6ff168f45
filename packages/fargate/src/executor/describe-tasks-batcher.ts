import { DescribeTasksCommand, type ECSClient, type Task } from '@aws-sdk/client-ecs';
import type { RetryPolicy } from '@cairn/protocol';
import { withEcsRetries } from '../client/ecs-retries.ts';

/** ECS describes at most 100 tasks per DescribeTasks call. */
export const describeTasksLimit = 100;

/** What ECS answered about one task: the task, or that it no longer knows it (with why). */
export type DescribedTask = { readonly found: true; readonly task: Task } | { readonly found: false; readonly reason: string };

interface Waiting {
  readonly resolve: (answer: DescribedTask) => void;
  readonly reject: (error: unknown) => void;
}

/** How long an answer that a task is still pending or running serves later lookups of that task. */
export const liveAnswerFreshnessMs = 1_000;

/**
 * Coalesces DescribeTasks lookups into one call per cluster and per 100 task ARNs (DescribeTasks is
 * rate-limited per account, shared with every other ECS client there):
 * - lookups asked for in the same turn of the event loop (a reconcile pass that inspects every live
 *   attempt at once) are described together, the same ARN once;
 * - a call also describes every other task this instance knows to be live (started by it, or seen
 *   pending or running) whose last answer is older than `liveAnswerFreshnessMs`, and that answer
 *   serves the next lookups of those tasks for that long. A reconcile pass that inspects its live
 *   attempts one after another (the engine's) thus costs the same 10 calls for 1,000 tasks.
 * A task seen STOPPED or MISSING is forgotten: final answers are always asked of ECS.
 */
export class DescribeTasksBatcher {
  readonly #client: ECSClient;
  readonly #retries: RetryPolicy;
  readonly #onError: (error: unknown, cluster: string) => unknown;
  #pending = new Map<string, Map<string, Waiting[]>>();
  #scheduled = false;
  /** Lookups joined to a call already sent, by cluster and ARN (a lookup of a task being described waits for that answer). */
  readonly #inFlight = new Map<string, Map<string, Waiting[]>>();
  /** Live tasks by cluster, with their last answer and when it came (0: never described). */
  readonly #live = new Map<string, Map<string, { answer?: DescribedTask; at: number }>>();

  constructor(client: ECSClient, retries: RetryPolicy, onError: (error: unknown, cluster: string) => unknown) {
    this.#client = client;
    this.#retries = retries;
    this.#onError = onError;
  }

  /** Remembers a task as live (just started), so the next call describes it along. */
  track(cluster: string, taskArn: string): void {
    let tasks = this.#live.get(cluster);
    if (!tasks) this.#live.set(cluster, (tasks = new Map()));
    if (!tasks.has(taskArn)) tasks.set(taskArn, { at: 0 });
  }

  /** Drops a task's last answer (it was just told to stop): its next lookup asks ECS. */
  invalidate(cluster: string, taskArn: string): void {
    const known = this.#live.get(cluster)?.get(taskArn);
    if (known) this.#live.get(cluster)!.set(taskArn, { at: 0 });
  }

  describe(cluster: string, taskArn: string): Promise<DescribedTask> {
    const known = this.#live.get(cluster)?.get(taskArn);
    if (known?.answer && Date.now() - known.at < liveAnswerFreshnessMs) return Promise.resolve(known.answer);
    return new Promise<DescribedTask>((resolve, reject) => {
      const sent = this.#inFlight.get(cluster)?.get(taskArn);
      if (sent) {
        sent.push({ resolve, reject });
        return;
      }
      let tasks = this.#pending.get(cluster);
      if (!tasks) this.#pending.set(cluster, (tasks = new Map()));
      const waiting = tasks.get(taskArn);
      if (waiting) waiting.push({ resolve, reject });
      else tasks.set(taskArn, [{ resolve, reject }]);
      if (!this.#scheduled) {
        this.#scheduled = true;
        // After every inspect started in this turn has asked (they are all synchronous up to here).
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    const pending = this.#pending;
    this.#pending = new Map();
    this.#scheduled = false;
    const now = Date.now();
    for (const [cluster, tasks] of pending) {
      const stale = [...(this.#live.get(cluster) ?? new Map<string, { at: number }>())].filter(
        ([arn, known]) => !tasks.has(arn) && !this.#inFlight.get(cluster)?.has(arn) && now - known.at >= liveAnswerFreshnessMs,
      );
      for (const [arn] of stale) tasks.set(arn, []);
      const arns = [...tasks.keys()];
      let inFlight = this.#inFlight.get(cluster);
      if (!inFlight) this.#inFlight.set(cluster, (inFlight = new Map()));
      for (const [arn, waiting] of tasks) inFlight.set(arn, waiting);
      for (let start = 0; start < arns.length; start += describeTasksLimit) {
        void this.#describeChunk(cluster, arns.slice(start, start + describeTasksLimit), tasks);
      }
    }
  }

  #remember(cluster: string, taskArn: string, answer: DescribedTask, at: number): void {
    let tasks = this.#live.get(cluster);
    if (!tasks) this.#live.set(cluster, (tasks = new Map()));
    tasks.set(taskArn, { answer, at });
  }

  async #describeChunk(cluster: string, arns: string[], waiting: Map<string, Waiting[]>): Promise<void> {
    const settle = (arn: string, settleOne: (entry: Waiting) => void) => {
      const inFlight = this.#inFlight.get(cluster);
      if (inFlight?.get(arn) === waiting.get(arn)) inFlight?.delete(arn);
      for (const entry of waiting.get(arn) ?? []) settleOne(entry);
    };
    try {
      const response = await withEcsRetries(() => this.#client.send(new DescribeTasksCommand({ cluster, tasks: arns })), this.#retries);
      const answered = new Set<string>();
      const live = this.#live.get(cluster);
      const at = Date.now();
      for (const task of response.tasks ?? []) {
        if (!task.taskArn) continue;
        // ECS answers with full ARNs; a handle holds the ARN RunTask returned, so they match.
        answered.add(task.taskArn);
        if (task.lastStatus === 'STOPPED') live?.delete(task.taskArn);
        else this.#remember(cluster, task.taskArn, { found: true, task }, at);
        settle(task.taskArn, (entry) => entry.resolve({ found: true, task }));
      }
      for (const failure of response.failures ?? []) {
        if (!failure.arn || answered.has(failure.arn)) continue;
        answered.add(failure.arn);
        live?.delete(failure.arn);
        const reason = `ECS answered ${failure.reason ?? 'a failure'}${failure.detail ? ` (${failure.detail})` : ''} for ${failure.arn}`;
        settle(failure.arn, (entry) => entry.resolve({ found: false, reason }));
      }
      for (const arn of arns) {
        if (answered.has(arn)) continue;
        live?.delete(arn);
        settle(arn, (entry) => entry.resolve({ found: false, reason: `ECS did not answer for ${arn}` }));
      }
    } catch (error) {
      const mapped = this.#onError(error, cluster);
      for (const arn of arns) settle(arn, (entry) => entry.reject(mapped));
    }
  }
}
