import type { SuiteOptions } from './suite-options.ts';

/**
 * One conformance case as data: `describe<Seam>` registers every case of its seam with vitest,
 * and a meta-test can run one case directly (`runConformanceCase`) against a deliberately broken
 * implementation to prove that the case fails when the contract is broken.
 */
export interface ConformanceCase<Instance, Oracle, Options extends SuiteOptions<Instance, Oracle> = SuiteOptions<Instance, Oracle>> {
  /** Stable kebab-case identifier; meta-tests and reports refer to a case by it. */
  readonly id: string;
  /** The sentence vitest shows: what an implementation must do. */
  readonly title: string;
  /**
   * What the case needs beyond the required surface. A case whose needs are not met skips itself
   * with a note naming the missing piece; nothing else ever skips a case.
   */
  readonly needs?: ConformanceCaseNeeds<Instance>;
  /** Resolves when the implementation keeps the contract; rejects (an `expect` failure) otherwise. */
  readonly run: (context: ConformanceCaseContext<Instance, Oracle, Options>) => Promise<void>;
}

/** The optional pieces a case may depend on. */
export interface ConformanceCaseNeeds<Instance> {
  /** The case reads or writes the backend through the oracle. */
  readonly oracle?: boolean;
  /** The case exercises an optional ability the instance must declare in its `capabilities`. */
  readonly capability?: {
    /** The capability's name as the contract spells it, shown in the skip note. */
    readonly name: string;
    /** Whether a created instance declares it. */
    readonly declared: (instance: Instance) => boolean;
  };
}

/** What a case receives: a fresh instance from the factory, its oracle, the suite's options. */
export interface ConformanceCaseContext<Instance, Oracle, Options extends SuiteOptions<Instance, Oracle> = SuiteOptions<Instance, Oracle>> {
  readonly instance: Instance;
  /** Present whenever the case declared `needs.oracle` (it is skipped otherwise). */
  readonly oracle: Oracle | undefined;
  /** Another fresh instance from the same factory, cleaned up with the first. */
  readonly create: () => Promise<Instance>;
  /** The options the suite was given (seam-specific ones such as an executor's `restart`). */
  readonly options: Options;
}
