import type { SignerV1 } from '@cairn/core';
import type { SuiteOptions } from '../harness/suite-options.ts';
import type { SignerOracle } from './signer-oracle.ts';

/** Options of `describeSigner`; `Instance` is the concrete class. */
export type SignerSuiteOptions<Instance extends SignerV1 = SignerV1> = SuiteOptions<Instance, SignerOracle>;
