import { setTimeout as sleep } from 'node:timers/promises';
import { describeExecutor } from '../executor/describe-executor.ts';
import { createInMemoryExecutor, type InMemoryExecutorRegistry, type InMemoryTask } from './in-memory-executor.ts';
import { behaviourManifests } from '../executor/behaviour-manifests.test-support.ts';

const manifests = behaviourManifests();

// The start request carries the behaviour in its manifest digest field; the task reads it back.
const run: InMemoryTask = async (request, signal) => {
  const behaviour = manifests.behaviourOf(request);
  if (behaviour.kind === 'succeed') return 0;
  if (behaviour.kind === 'fail') return behaviour.exitCode;
  await sleep(60_000, undefined, { signal }).catch(() => undefined);
  return 130;
};

describeExecutor({
  name: 'in-memory',
  create: () => createInMemoryExecutor({ run }),
  task: (behaviour, executionId) => manifests.envelope(behaviour, executionId),
  restart: (executor) => createInMemoryExecutor({ run, registry: executor.registry as InMemoryExecutorRegistry }),
  // Run counts come from the registry records the task body increments, not from inspect().
  oracle: (executor) => ({ runCount: (executionId) => executor.registry.executions.get(executionId)?.runs ?? 0 }),
});
