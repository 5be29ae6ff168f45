import type { AuditAnchorV1 } from '@cairn/core';
import { registerSuite } from '../harness/register-suite.ts';
import { auditAnchorCases } from './audit-anchor-cases.ts';
import type { AuditAnchorSuiteOptions } from './audit-anchor-suite-options.ts';

/**
 * Registers the AuditAnchorV1 conformance suite: byte-exact read-back, idempotent anchoring,
 * refusal to rewrite history, live reads, and tampering behaviour matching the declared guarantee.
 */
export function describeAuditAnchor<Instance extends AuditAnchorV1>(options: AuditAnchorSuiteOptions<Instance>): void {
  // Widening is sound: every instance handed back to the options came from `options.create`.
  registerSuite('AuditAnchorV1', auditAnchorCases, options as unknown as AuditAnchorSuiteOptions);
}
