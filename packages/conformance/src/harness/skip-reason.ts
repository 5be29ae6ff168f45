import type { ConformanceCaseNeeds } from './conformance-case.ts';

/**
 * Why a case does not apply to this instance, or `undefined` when it does. The only two reasons
 * are the ones a user can act on: declare the capability, or pass an oracle.
 */
export function skipReason<Instance>(needs: ConformanceCaseNeeds<Instance> | undefined, instance: Instance, hasOracle: boolean): string | undefined {
  if (needs?.capability && !needs.capability.declared(instance)) {
    return `the instance does not declare the "${needs.capability.name}" capability`;
  }
  if (needs?.oracle && !hasOracle) {
    return 'needs an oracle: pass `oracle` to the describe function to run it';
  }
  return undefined;
}
