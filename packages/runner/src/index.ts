export { createRunnerExecutor, RunnerExecutor } from './executor/runner-executor.ts';
export type { RunnerIdentity, RunnerSummary } from './executor/runner-executor.ts';
export { runnerExecutorSettingsSchema } from './executor/runner-executor-settings.ts';
export type { RunnerExecutorSettings } from './executor/runner-executor-settings.ts';
export { createRunner, Runner } from './daemon/runner.ts';
export { runnerSettingsSchema } from './daemon/runner-settings.ts';
export type { RunnerSettings } from './daemon/runner-settings.ts';
export const VERSION = '0.1.0';
