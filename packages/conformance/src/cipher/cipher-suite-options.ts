import type { CipherV1 } from '@cairn/core';
import type { SuiteOptions } from '../harness/suite-options.ts';

/**
 * Options of `describeCipher`. A cipher has no oracle: its envelope is the whole backend-visible
 * state, and the cases tamper with it directly.
 */
export type CipherSuiteOptions<Instance extends CipherV1 = CipherV1> = SuiteOptions<Instance, never>;
