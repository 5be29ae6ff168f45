import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { AgentRuntimeSpec, RuntimeAdapterV1, RuntimeInvocation, RuntimeResult, RuntimeSpec } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { RuntimeAdapterScenario } from '../runtime-adapter/runtime-adapter-scenario.ts';

/** One step of a scripted run. */
export type InMemoryRuntimeStep =
  | { readonly write: string; readonly content: string }
  | { readonly stdout: string }
  | { readonly stderr: string }
  | { readonly printWorkingDirectory: true }
  | { readonly waitForAbort: true }
  | { readonly exit: number };

/** The adapter name the in-memory runtime answers to in an agent runtime spec. */
export const inMemoryRuntimeAdapterName = 'in-memory';

/**
 * The runtime spec that makes the in-memory adapter act out `steps` (in order; exit 0 when they
 * run out): an agent spec whose prompt is the script, as a scripted model would take it.
 */
export function inMemoryRuntimeSpec(steps: readonly InMemoryRuntimeStep[]): AgentRuntimeSpec {
  return { kind: 'agent', adapter: inMemoryRuntimeAdapterName, prompt: JSON.stringify(steps) };
}

/** The in-memory runtime spec that acts out a conformance scenario (for `describeRuntimeAdapter`). */
export function inMemoryScenarioSpec(scenario: RuntimeAdapterScenario): AgentRuntimeSpec {
  switch (scenario.kind) {
    case 'write-file':
      return inMemoryRuntimeSpec([{ write: scenario.path, content: scenario.content }]);
    case 'exit':
      return inMemoryRuntimeSpec([{ exit: scenario.exitCode }]);
    case 'print':
      return inMemoryRuntimeSpec([{ stdout: scenario.stdout }, { stderr: scenario.stderr }]);
    case 'print-working-directory':
      return inMemoryRuntimeSpec([{ printWorkingDirectory: true }]);
    case 'run-until-aborted':
      return inMemoryRuntimeSpec([{ waitForAbort: true }]);
  }
}

/** The steps of a spec made by `inMemoryRuntimeSpec`; CAIRN_RUNTIME_FAILED for any other spec. */
export function readInMemoryScript(spec: RuntimeSpec): readonly InMemoryRuntimeStep[] {
  if (spec.kind !== 'agent' || spec.adapter !== inMemoryRuntimeAdapterName) {
    throw new CairnError(
      'CAIRN_RUNTIME_FAILED',
      `[cairn] [conformance] the in-memory runtime runs only specs made by inMemoryRuntimeSpec, not a ${spec.kind} spec.`,
    );
  }
  return JSON.parse(spec.prompt) as InMemoryRuntimeStep[];
}

/** Settings of `createInMemoryRuntimeAdapter`. */
export interface InMemoryRuntimeAdapterSettings {
  /** The exit code reported for an aborted run (130 by default, as for SIGINT). */
  readonly abortedExitCode?: number;
}

const encoder = new TextEncoder();

/**
 * RuntimeAdapterV1 that acts out a script in-process: it writes real files in the workspace it is
 * given (refusing paths that leave it), feeds the sinks and honours the abort signal. For tests of
 * the worker and engine that need a runtime without spawning one.
 */
export class InMemoryRuntimeAdapter implements RuntimeAdapterV1 {
  readonly specificationVersion = 'v1';
  readonly kind = inMemoryRuntimeAdapterName;
  readonly #abortedExitCode: number;

  constructor(settings: InMemoryRuntimeAdapterSettings = {}) {
    this.#abortedExitCode = settings.abortedExitCode ?? 130;
  }

  async run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    const steps = readInMemoryScript(invocation.spec);
    const aborted = (): RuntimeResult => ({ exitCode: this.#abortedExitCode, aborted: true });
    for (const step of steps) {
      if (invocation.signal.aborted) return aborted();
      if ('write' in step) {
        const target = resolve(invocation.workspace, step.write);
        const inside = relative(invocation.workspace, target);
        if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
          invocation.sinks.stderr(encoder.encode(`refusing to write outside the workspace: ${step.write}\n`));
          return { exitCode: 1, aborted: false };
        }
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, step.content);
      } else if ('stdout' in step) {
        invocation.sinks.stdout(encoder.encode(step.stdout));
      } else if ('stderr' in step) {
        invocation.sinks.stderr(encoder.encode(step.stderr));
      } else if ('printWorkingDirectory' in step) {
        invocation.sinks.stdout(encoder.encode(`${invocation.workspace}\n`));
      } else if ('waitForAbort' in step) {
        await new Promise<void>((resolveWait) => invocation.signal.addEventListener('abort', () => resolveWait(), { once: true }));
        return aborted();
      } else {
        return { exitCode: step.exit, aborted: false };
      }
    }
    return invocation.signal.aborted ? aborted() : { exitCode: 0, aborted: false };
  }
}

/** Builds an in-memory runtime adapter. */
export function createInMemoryRuntimeAdapter(settings: InMemoryRuntimeAdapterSettings = {}): InMemoryRuntimeAdapter {
  return new InMemoryRuntimeAdapter(settings);
}
