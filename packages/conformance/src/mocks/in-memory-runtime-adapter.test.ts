import type { RuntimeSpec } from '@cairn/core';
import type { RuntimeAdapterScenario } from '../runtime-adapter/runtime-adapter-scenario.ts';
import { describeRuntimeAdapter } from '../runtime-adapter/describe-runtime-adapter.ts';
import { createInMemoryRuntimeAdapter, inMemoryRuntimeSpec } from './in-memory-runtime-adapter.ts';

function script(scenario: RuntimeAdapterScenario): RuntimeSpec {
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

describeRuntimeAdapter({ name: 'in-memory', create: () => createInMemoryRuntimeAdapter(), scenario: script });
