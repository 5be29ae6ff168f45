import type { VerificationReport } from '@cairn/core';

/** A verification report for people: the verdict and claim, then one line per check. */
export function formatVerificationReport(report: VerificationReport): string[] {
  return [`valid: ${report.valid}, claim: ${report.claim}`, ...report.checks.map((check) => `  ${check.status.padEnd(11)} ${check.name.padEnd(20)} ${check.detail}`)];
}
