import type { CairnError } from '@cairn/protocol';

/** One thing a probe checked: a permission (`kms:Sign`) or the key's type (`key-spec`). */
export interface KmsProbeCheck {
  /** `key-spec`, or the IAM action the check exercised (`kms:GetPublicKey`, `kms:Sign`, …). */
  readonly name: string;
  /** `skipped`: not tried, because a check it depends on failed, or (DescribeKey) it is not required. */
  readonly status: 'pass' | 'fail' | 'skipped';
  /** What was found, in one sentence a person reads. */
  readonly detail: string;
  /** What to do, when the check failed. */
  readonly fix?: string;
  /** The error the check failed with, its KMS error as `cause`. */
  readonly error?: CairnError;
}

/**
 * What `probe()` found about a KMS key: whether it can do what the seam asks of it, and for each
 * failed check the fix. `cairn doctor` prints these; `ok` is true only when every check passed or
 * was skipped as not required.
 */
export interface KmsProbeReport {
  readonly ok: boolean;
  /** The key as configured, and the endpoint when set. */
  readonly key: string;
  readonly checks: readonly KmsProbeCheck[];
}

/** A report from its checks: ok when none failed. */
export function probeReport(key: string, checks: readonly KmsProbeCheck[]): KmsProbeReport {
  return { ok: checks.every((check) => check.status !== 'fail'), key, checks };
}

/** A failed check from the CairnError that failed it, the fix taken from its message. */
export function failedCheck(name: string, detail: string, error: CairnError): KmsProbeCheck {
  const fix = /Fix: (.*)$/s.exec(error.message)?.[1]?.replace(/\.$/, '') ?? error.message;
  return { name, status: 'fail', detail, fix, error };
}
