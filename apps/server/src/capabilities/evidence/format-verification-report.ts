import type { VerificationReport } from '@cairn/core';

/** A verification report for people: the verdict and claim, one line per check, then what to do when the signer was not trusted. */
export function formatVerificationReport(report: VerificationReport): string[] {
  const lines = [
    `valid: ${report.valid}, claim: ${report.claim}, verdict: ${report.verdict}`,
    ...report.checks.map((check) => `  ${check.status.padEnd(11)} ${check.name.padEnd(20)} ${check.detail}`),
  ];
  if (report.verdict === 'untrusted-signer') {
    lines.push(
      "NOT VERIFIED: the bundle is self-consistent, but it was checked only against the keys it carries, which anyone can make. Pass --trusted-key <keyId> or --trusted-key-file <file>, or run cairn verify in the server's folder.",
    );
  }
  return lines;
}
