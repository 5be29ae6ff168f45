import type { CipherV1 } from '@cairn/core';
import { registerSuite } from '../harness/register-suite.ts';
import { cipherCases } from './cipher-cases.ts';
import type { CipherSuiteOptions } from './cipher-suite-options.ts';

/** Registers the CipherV1 conformance suite: round trips, tampering, context binding, envelope shape. */
export function describeCipher<Instance extends CipherV1>(options: CipherSuiteOptions<Instance>): void {
  // Widening is sound: every instance handed back to the options came from `options.create`.
  registerSuite('CipherV1', cipherCases, options as unknown as CipherSuiteOptions);
}
