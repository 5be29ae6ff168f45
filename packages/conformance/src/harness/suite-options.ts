import type { ConformanceCaseContext } from './conformance-case.ts';

/**
 * The options every `describe<Seam>` takes. Seam suites extend it with what only they need (an
 * executor's `restart` and tasks, a runtime adapter's scenarios).
 */
export interface SuiteOptions<Instance, Oracle> {
  /** Shown in the describe block's title: `StorageProviderV1 conformance: <name>`. */
  readonly name: string;
  /**
   * Builds a fresh instance for one test. Each test gets its own; an implementation over a
   * shared backend should give each instance its own namespace (a temporary directory, a key
   * prefix) so tests do not see each other's data.
   */
  readonly create: () => Promise<Instance> | Instance;
  /**
   * An independent view of the instance's backend (a directory read with `node:fs`, a bucket
   * read with a raw client), so that no case only reads back through the implementation.
   * Cases that need it skip themselves, with a note, when it is not given.
   */
  readonly oracle?: (instance: Instance) => Oracle;
  /** Releases what `create` acquired (temporary directories, connections); runs after each test. */
  readonly cleanup?: (instance: Instance) => Promise<void> | void;
  /**
   * Registers backend-specific tests inside the same describe block. They get the same fresh
   * instance and oracle as the shared cases through `suite.current()`, read inside a test body.
   */
  readonly extend?: (suite: SuiteContext<Instance, Oracle>) => void;
  /** Per-test timeout in milliseconds (default 10 000). */
  readonly timeoutMs?: number;
}

/** The running test's state, for `extend` callbacks. */
export interface SuiteContext<Instance, Oracle> {
  /** The current test's instance, oracle and factory; throws when read outside a running test. */
  readonly current: () => ConformanceCaseContext<Instance, Oracle>;
}
