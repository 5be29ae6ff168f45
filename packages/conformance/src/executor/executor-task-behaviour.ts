/**
 * What the suite needs a task to do. `ExecutorSuiteOptions.task` turns one into a TaskEnvelope
 * for the backend under test (a manifest whose command exits 0 or 3, or sleeps).
 */
export type ExecutorTaskBehaviour =
  /** Exit 0 promptly. */
  | { readonly kind: 'succeed' }
  /** Exit promptly with `exitCode` (never 0). */
  | { readonly kind: 'fail'; readonly exitCode: number }
  /** Keep running until cancelled (the suite cancels it within seconds). */
  | { readonly kind: 'run-until-cancelled' };
