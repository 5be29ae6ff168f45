import { describeExecutor } from '@cairn/conformance';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createRunnerExecutor, type RunnerExecutor } from './runner-executor.ts';
import { SimulatedRunner, storeBehaviourManifest } from './simulated-runner.test-support.ts';

// One storage for the file: the engine's, holding manifests and the result records runners write.
const storage = createInMemoryStorageProvider();
const runs = new Map<string, number>();
const settings = { storage, leaseMs: 2_000, pollWaitMs: 500 };

/** A server and its runner: `current` is the book the runner polls; a restart replaces it. */
interface Deployment {
  current: RunnerExecutor;
  readonly runner: SimulatedRunner;
}
const deployments = new WeakMap<RunnerExecutor, Deployment>();

describeExecutor<RunnerExecutor>({
  name: 'runner',
  create: () => {
    const deployment = { current: createRunnerExecutor(settings) } as Deployment;
    Object.assign(deployment, { runner: new SimulatedRunner({ name: 'runner-1', storage, runs, server: () => deployment.current }) });
    deployments.set(deployment.current, deployment);
    return deployment.current;
  },
  task: (behaviour, executionId) => storeBehaviourManifest(storage.backend, behaviour, executionId),
  // A server restart: a new, empty book; the old one answers its waiting poll and is gone, and the
  // runner's next poll (listing what it holds) goes to the new one.
  restart: async (executor) => {
    const deployment = deployments.get(executor)!;
    const restarted = createRunnerExecutor(settings);
    deployments.set(restarted, deployment);
    deployment.current = restarted;
    executor.close();
    await deployment.runner.polled(restarted);
    return restarted;
  },
  cleanup: async (executor) => {
    executor.close();
    const deployment = deployments.get(executor);
    if (deployment?.current === executor) await deployment.runner.stop();
  },
  // Run counts come from the simulated runner's task starts, not from inspect().
  oracle: () => ({ runCount: (executionId) => runs.get(executionId) ?? 0 }),
});
