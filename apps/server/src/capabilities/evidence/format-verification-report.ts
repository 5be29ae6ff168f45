import type { EgressRecordCounts, VerificationReport } from '@cairn/core';

/**
 * A verification report for people: the verdict and claim, one line per check, one per egress
 * record counted (when the artifacts' contents were read), then what to do when the signer was
 * not trusted.
 */
export function formatVerificationReport(report: VerificationReport): string[] {
  const lines = [
    `valid: ${report.valid}, claim: ${report.claim}, verdict: ${report.verdict}`,
    ...report.checks.map((check) => `  ${check.status.padEnd(11)} ${check.name.padEnd(20)} ${check.detail}`),
    ...(report.egress ?? []).map(egressLine),
  ];
  if (report.verdict === 'untrusted-signer') {
    lines.push(
      "NOT VERIFIED: the bundle is self-consistent, but it was checked only against the keys it carries, which anyone can make. Pass --trusted-key <keyId> or --trusted-key-file <file>, or run cairn verify in the server's folder.",
    );
  }
  return lines;
}

/** `egress fetch#1: 3 allowed, 2 refused (not-allowed 1, address-forbidden 1) — sha256:…`, the cut ones after the refused. */
function egressLine(counts: EgressRecordCounts): string {
  const byReason = (reasons: Readonly<Record<string, number>>) => {
    const named = Object.entries(reasons).map(([reason, count]) => `${reason} ${count}`);
    return named.length === 0 ? '' : ` (${named.join(', ')})`;
  };
  const cut = counts.cut === 0 ? '' : `, ${counts.cut} cut${byReason(counts.cutBy)}`;
  return `  egress ${counts.itemId}#${counts.attempt}: ${counts.allowed} allowed, ${counts.refused} refused${byReason(counts.refusedBy)}${cut} — ${counts.digest}`;
}
