import type { ConformanceCase } from './conformance-case.ts';
import { cleanupAll } from './register-suite.ts';
import { skipReason } from './skip-reason.ts';
import type { SuiteOptions } from './suite-options.ts';

/**
 * Runs one case outside a describe block, with the same lifecycle as the suite (fresh instance,
 * oracle, cleanup). Meant for meta-tests that prove a case catches a broken implementation:
 * `await expect(runConformanceCase(storageProviderCases, 'put-if-absent-concurrent', broken)).rejects.toThrow()`.
 * A case that would skip is an error here, so a meta-test can never pass because nothing ran.
 */
export async function runConformanceCase<Instance, Oracle, Options extends SuiteOptions<Instance, Oracle>>(
  cases: readonly ConformanceCase<Instance, Oracle, Options>[],
  id: string,
  options: Options,
): Promise<void> {
  const conformanceCase = cases.find((candidate) => candidate.id === id);
  if (!conformanceCase) {
    throw new Error(`[cairn] [conformance] no case "${id}"; known: ${cases.map((candidate) => candidate.id).join(', ')}`);
  }
  const created: Instance[] = [];
  const create = async (): Promise<Instance> => {
    const instance = await options.create();
    created.push(instance);
    return instance;
  };
  try {
    const instance = await create();
    const oracle = options.oracle?.(instance);
    const reason = skipReason(conformanceCase.needs, instance, oracle !== undefined);
    if (reason !== undefined) throw new Error(`[cairn] [conformance] case "${id}" would be skipped: ${reason}`);
    await conformanceCase.run({ instance, oracle, create, options });
  } finally {
    await cleanupAll(options.cleanup, created);
  }
}
