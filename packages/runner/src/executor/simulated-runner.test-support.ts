// A runner in-process: it polls a book (whichever the "server" is now), runs each leased task as its
// stored manifest says, writes a result record as a worker would and reports the exit.
import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageProviderV1, TaskEnvelope } from '@cairn/core';
import type { ExecutorTaskBehaviour } from '@cairn/conformance';
import { digestOfJson, manifestKey, resultKey, type RunnerExitStatus, type RunnerLease } from '@cairn/protocol';
import type { RunnerExecutor } from './runner-executor.ts';

/** Stores a manifest naming the execution and its behaviour, as the engine stores a dispatch manifest (a DSSE envelope). */
export function storeBehaviourManifest(backend: Map<string, Uint8Array>, behaviour: ExecutorTaskBehaviour, executionId: string): TaskEnvelope {
  const manifest = { executionId, behaviour };
  const manifestDigest = digestOfJson(manifest);
  const envelope = { payloadType: 'application/vnd.cairn.manifest+json', payload: Buffer.from(JSON.stringify(manifest)).toString('base64'), signatures: [] };
  backend.set(manifestKey(manifestDigest), Buffer.from(JSON.stringify(envelope)));
  return { executionId, manifestDigest };
}

export interface SimulatedRunnerOptions {
  readonly name: string;
  readonly labels?: readonly string[];
  readonly capacity?: number;
  readonly storage: StorageProviderV1;
  /** The book the runner talks to now (a server restart swaps it). */
  readonly server: () => RunnerExecutor;
  /** Counts task body starts (the conformance oracle). */
  readonly runs?: Map<string, number>;
  readonly waitMs?: number;
}

export class SimulatedRunner {
  readonly options: SimulatedRunnerOptions;
  readonly held = new Map<string, AbortController>();
  readonly #stop = new AbortController();
  readonly #loop: Promise<void>;
  #polls = 0;

  constructor(options: SimulatedRunnerOptions) {
    this.options = options;
    this.#loop = this.#run();
  }

  /** Resolves once the runner's next poll has reached `server`. */
  async polled(server: RunnerExecutor): Promise<void> {
    const before = this.#polls;
    while (!server.runners().some((runner) => runner.name === this.options.name) || this.#polls === before) await sleep(2);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    for (const controller of this.held.values()) controller.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const capacity = this.options.capacity ?? 8;
    while (!this.#stop.signal.aborted) {
      const server = this.options.server();
      const answer = await server.poll(
        { name: this.options.name },
        {
          version: '0.1.0',
          labels: [...(this.options.labels ?? [])],
          slots: capacity - this.held.size,
          held: [...this.held.keys()],
          waitMs: this.options.waitMs ?? 1_000,
        },
        this.#stop.signal,
      );
      this.#polls += 1;
      for (const executionId of answer.cancel) this.held.get(executionId)?.abort();
      for (const lease of answer.leases) this.#start(lease);
      if (answer.leases.length === 0 && answer.cancel.length === 0) await sleep(1);
    }
  }

  #start(lease: RunnerLease): void {
    const controller = new AbortController();
    this.held.set(lease.executionId, controller);
    const runs = this.options.runs;
    runs?.set(lease.executionId, (runs.get(lease.executionId) ?? 0) + 1);
    void (async () => {
      const bytes = await this.options.storage.get(manifestKey(lease.task.manifestDigest));
      const envelope = JSON.parse(Buffer.from(bytes!).toString('utf8')) as { payload: string };
      const { behaviour } = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { behaviour: ExecutorTaskBehaviour };
      let exitCode = behaviour.kind === 'succeed' ? 0 : behaviour.kind === 'fail' ? behaviour.exitCode : 130;
      if (behaviour.kind === 'run-until-cancelled') await sleep(60_000, undefined, { signal: controller.signal }).catch(() => undefined);
      if (controller.signal.aborted) exitCode = 130;
      const outcome = controller.signal.aborted ? 'cancelled' : exitCode === 0 ? 'succeeded' : 'failed';
      if (this.#stop.signal.aborted) return; // the runner died with its attempts: nothing written, nothing reported
      const key = resultKey(lease.executionId);
      await this.options.storage.put(key, Buffer.from(JSON.stringify({ version: 'cairn.result/v1', executionId: lease.executionId, outcome, exitCode })));
      this.held.delete(lease.executionId);
      const status: RunnerExitStatus = { state: 'exited', outcome, exitCode, resultKey: key };
      this.options.server().reportExits({ name: this.options.name }, [{ executionId: lease.executionId, status }]);
    })();
  }
}
