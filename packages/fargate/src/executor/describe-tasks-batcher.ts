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

/**
 * Coalesces the DescribeTasks lookups asked for in the same turn of the event loop into one call
 * per cluster and per 100 task ARNs: the engine's reconcile pass inspects every live attempt at
 * once, and 1,000 live tasks then cost 10 calls, not 1,000 (DescribeTasks is rate-limited per
 * account, shared with every other ECS client there). The same ARN asked twice is described once.
 */
export class DescribeTasksBatcher {
  readonly #client: ECSClient;
  readonly #retries: RetryPolicy;
  readonly #onError: (error: unknown, cluster: string) => unknown;
  #pending = new Map<string, Map<string, Waiting[]>>();
  #scheduled = false;

  constructor(client: ECSClient, retries: RetryPolicy, onError: (error: unknown, cluster: string) => unknown) {
    this.#client = client;
    this.#retries = retries;
    this.#onError = onError;
  }

  describe(cluster: string, taskArn: string): Promise<DescribedTask> {
    return new Promise<DescribedTask>((resolve, reject) => {
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
    for (const [cluster, tasks] of pending) {
      const arns = [...tasks.keys()];
      for (let start = 0; start < arns.length; start += describeTasksLimit) {
        void this.#describeChunk(cluster, arns.slice(start, start + describeTasksLimit), tasks);
      }
    }
  }

  async #describeChunk(cluster: string, arns: string[], waiting: Map<string, Waiting[]>): Promise<void> {
    const settle = (arn: string, settleOne: (entry: Waiting) => void) => {
      for (const entry of waiting.get(arn) ?? []) settleOne(entry);
    };
    try {
      const response = await withEcsRetries(() => this.#client.send(new DescribeTasksCommand({ cluster, tasks: arns })), this.#retries);
      const answered = new Set<string>();
      for (const task of response.tasks ?? []) {
        if (!task.taskArn) continue;
        // ECS answers with full ARNs; a handle holds the ARN RunTask returned, so they match.
        answered.add(task.taskArn);
        settle(task.taskArn, (entry) => entry.resolve({ found: true, task }));
      }
      for (const failure of response.failures ?? []) {
        if (!failure.arn || answered.has(failure.arn)) continue;
        answered.add(failure.arn);
        const reason = `ECS answered ${failure.reason ?? 'a failure'}${failure.detail ? ` (${failure.detail})` : ''} for ${failure.arn}`;
        settle(failure.arn, (entry) => entry.resolve({ found: false, reason }));
      }
      for (const arn of arns) {
        if (!answered.has(arn)) settle(arn, (entry) => entry.resolve({ found: false, reason: `ECS did not answer for ${arn}` }));
      }
    } catch (error) {
      const mapped = this.#onError(error, cluster);
      for (const arn of arns) settle(arn, (entry) => entry.reject(mapped));
    }
  }
}
