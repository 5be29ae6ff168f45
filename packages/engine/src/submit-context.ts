import type { ExecutorV1 } from '@cairn/core';
import type { RunSpecContext } from '@cairn/protocol';
import { deliverExecutorName } from './state/run-submission.ts';
import type { ResolvedEngineSettings } from './engine-settings.ts';

/**
 * What a spec submitted to this engine is checked against: the executors, queues, adapters, secrets
 * and forges that exist, the network policy, and which executors enforce allow-lists and route by
 * labels (their capabilities say).
 */
export function submitContextOf(settings: ResolvedEngineSettings, executors: Readonly<Record<string, ExecutorV1>>, secrets: readonly string[]): RunSpecContext {
  const { adapters, adapterSecrets } = settings;
  const declaring = (capability: 'networkAllowLists' | 'labels') =>
    Object.entries(executors)
      .filter(([, executor]) => executor.capabilities[capability] === true)
      .map(([name]) => name);
  return {
    executors: Object.keys(executors),
    queues: Object.keys(settings.queues),
    secrets,
    ...(adapters ? { adapters } : {}),
    adapterSecrets,
    // Deliver items run on the `deliver` executor: without it, no forge can be named.
    forges: executors[deliverExecutorName] ? settings.forges : [],
    // Without a policy any host may be allowed, but no secret is bound to a host: credentials are refused.
    networkPolicy: settings.networkPolicy ?? {},
    // An allow-list runs only where its executor confines the item to its proxy (ADR 0049).
    networkAllowListExecutors: declaring('networkAllowLists'),
    // runsOn only where the executor chooses hosts by labels (ADR 0050).
    labelExecutors: declaring('labels'),
    defaultExecutor: settings.defaultExecutor ?? Object.keys(executors)[0]!,
  };
}
