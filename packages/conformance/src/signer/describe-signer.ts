import type { SignerV1 } from '@cairn/core';
import { registerSuite } from '../harness/register-suite.ts';
import { signerCases } from './signer-cases.ts';
import type { SignerSuiteOptions } from './signer-suite-options.ts';

/**
 * Registers the SignerV1 conformance suite: signatures are checked offline with `node:crypto`
 * against the published public key only, the way an evidence-bundle verifier checks them.
 */
export function describeSigner<Instance extends SignerV1>(options: SignerSuiteOptions<Instance>): void {
  // Widening is sound: every instance handed back to the options came from `options.create`.
  registerSuite('SignerV1', signerCases, options as unknown as SignerSuiteOptions);
}
