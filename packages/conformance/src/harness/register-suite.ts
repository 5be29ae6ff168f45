import { afterEach, beforeEach, describe, test } from 'vitest';
import type { ConformanceCase, ConformanceCaseContext } from './conformance-case.ts';
import { skipReason } from './skip-reason.ts';
import type { SuiteOptions } from './suite-options.ts';

const defaultTimeoutMs = 10_000;

/**
 * Registers one seam's cases in a describe block. Each test gets a fresh instance built in
 * `beforeEach` (so `extend` tests share the lifecycle) and cleaned up in `afterEach`, even when
 * the test failed. Capability gating happens inside the test with `context.skip(note)`: describe
 * bodies are synchronous, so capabilities can only be read from an instance once one exists.
 */
export function registerSuite<Instance, Oracle, Options extends SuiteOptions<Instance, Oracle>>(
  contractName: string,
  cases: readonly ConformanceCase<Instance, Oracle, Options>[],
  options: Options,
): void {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  describe(`${contractName} conformance: ${options.name}`, () => {
    let current: { context: ConformanceCaseContext<Instance, Oracle, Options>; created: Instance[] } | undefined;

    beforeEach(async () => {
      const created: Instance[] = [];
      const create = async (): Promise<Instance> => {
        const instance = await options.create();
        created.push(instance);
        return instance;
      };
      const instance = await create();
      current = { context: { instance, oracle: options.oracle?.(instance), create, options }, created };
    }, timeoutMs);

    afterEach(async () => {
      const state = current;
      current = undefined;
      if (state) await cleanupAll(options.cleanup, state.created);
    }, timeoutMs);

    for (const conformanceCase of cases) {
      test(
        conformanceCase.title,
        async (testContext) => {
          if (!current) throw new Error(`[cairn] [conformance] "${options.name}": the instance was not created`);
          const reason = skipReason(conformanceCase.needs, current.context.instance, current.context.oracle !== undefined);
          if (reason !== undefined) testContext.skip(reason);
          await conformanceCase.run(current.context);
        },
        timeoutMs,
      );
    }

    options.extend?.({
      current: () => {
        if (!current) throw new Error('[cairn] [conformance] suite.current() is only available inside a running test');
        return current.context;
      },
    });
  });
}

/** Cleans up every instance a test created, newest first, reporting all failures together. */
export async function cleanupAll<Instance>(cleanup: ((instance: Instance) => Promise<void> | void) | undefined, created: Instance[]): Promise<void> {
  if (!cleanup) return;
  const errors: unknown[] = [];
  for (const instance of [...created].reverse()) {
    try {
      await cleanup(instance);
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `[cairn] [conformance] ${errors.length} cleanups failed`);
}
