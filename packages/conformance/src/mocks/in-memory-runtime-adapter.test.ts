import { describeRuntimeAdapter } from '../runtime-adapter/describe-runtime-adapter.ts';
import { createInMemoryRuntimeAdapter, inMemoryScenarioSpec } from './in-memory-runtime-adapter.ts';

describeRuntimeAdapter({ name: 'in-memory', create: () => createInMemoryRuntimeAdapter(), scenario: inMemoryScenarioSpec });
