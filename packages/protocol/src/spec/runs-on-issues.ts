import type { RunSpecV1 } from '@cairn/core';
import type { ValidationIssue } from '../errors/cairn-error.ts';

/** What `runsOnIssues` reads of the server: which executors route by labels. */
export interface RunsOnContext {
  /** The executors that start a task only where its labels are (runners, ADR 0050). Absent, not checked. */
  readonly labelExecutors?: readonly string[];
  /** The executor of an item that names none and whose run's defaults name none. */
  readonly defaultExecutor?: string;
}

/**
 * An item's `runsOn` (its own or the defaults') where its executor does not route by labels: it
 * would run anywhere, so it is refused at submit, at that `runsOn`, naming the executor.
 */
export function runsOnIssues(spec: RunSpecV1, context: RunsOnContext): ValidationIssue[] {
  const routing = context.labelExecutors;
  if (routing === undefined) return [];
  const issues: ValidationIssue[] = [];
  const where =
    routing.length === 0
      ? 'no executor of this server does'
      : `only ${routing.map((name) => JSON.stringify(name)).join(', ')} ${routing.length === 1 ? 'does' : 'do'}`;
  const reported = new Set<string>();
  spec.items.forEach((item, index) => {
    const own = item.runsOn !== undefined;
    if (!own && spec.defaults?.runsOn === undefined) return;
    const executor = item.executor ?? spec.defaults?.executor ?? context.defaultExecutor;
    if (executor !== undefined && routing.includes(executor)) return;
    const path = own ? `$.items[${index}].runsOn` : '$.defaults.runsOn';
    if (reported.has(path)) return;
    reported.add(path);
    issues.push({
      code: 'CAIRN_RUN_SPEC_INVALID',
      path,
      message: `asks for runner labels, but executor ${JSON.stringify(executor ?? '(default)')} does not choose hosts by labels (${where}): run the item on the runners executor, or leave runsOn out.`,
    });
  });
  return issues;
}
