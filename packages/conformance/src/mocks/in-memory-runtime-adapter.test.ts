import type { RuntimeAdapterScenario } from '../runtime-adapter/runtime-adapter-scenario.ts';
import { describeRuntimeAdapter } from '../runtime-adapter/describe-runtime-adapter.ts';
import { createInMemoryRuntimeAdapter, type InMemoryRuntimeScript } from './in-memory-runtime-adapter.ts';

function script(scenario: RuntimeAdapterScenario): InMemoryRuntimeScript {
  switch (scenario.kind) {
    case 'write-file':
      return { kind: 'script', steps: [{ write: scenario.path, content: scenario.content }] };
    case 'exit':
      return { kind: 'script', steps: [{ exit: scenario.exitCode }] };
    case 'print':
      return { kind: 'script', steps: [{ stdout: scenario.stdout }, { stderr: scenario.stderr }] };
    case 'print-working-directory':
      return { kind: 'script', steps: [{ printWorkingDirectory: true }] };
    case 'run-until-aborted':
      return { kind: 'script', steps: [{ waitForAbort: true }] };
  }
}

describeRuntimeAdapter({ name: 'in-memory', create: () => createInMemoryRuntimeAdapter(), scenario: script });
