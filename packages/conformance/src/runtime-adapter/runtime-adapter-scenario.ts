/**
 * What the suite needs the runtime to do. `RuntimeAdapterSuiteOptions.scenario` turns one into
 * the runtime spec of the adapter under test (for a command adapter: an argv; for an agent
 * adapter: a prompt against a scripted model endpoint).
 */
export type RuntimeAdapterScenario =
  /** Write `content` (UTF-8) to `path`, relative to the working directory, then exit 0. */
  | { readonly kind: 'write-file'; readonly path: string; readonly content: string }
  /** Exit with `exitCode` without output. */
  | { readonly kind: 'exit'; readonly exitCode: number }
  /** Write `stdout` to standard output and `stderr` to standard error, then exit 0. */
  | { readonly kind: 'print'; readonly stdout: string; readonly stderr: string }
  /** Print the absolute working directory to standard output, then exit 0. */
  | { readonly kind: 'print-working-directory' }
  /** Keep running until the abort signal fires. */
  | { readonly kind: 'run-until-aborted' };
