import type { AuditAnchorV1 } from '@cairn/core';
import type { SuiteOptions } from '../harness/suite-options.ts';
import type { AuditAnchorOracle } from './audit-anchor-oracle.ts';

/** Options of `describeAuditAnchor`; `create` must return an anchor with nothing anchored yet. */
export type AuditAnchorSuiteOptions<Instance extends AuditAnchorV1 = AuditAnchorV1> = SuiteOptions<Instance, AuditAnchorOracle>;
