import type { X509Certificate } from 'node:crypto';
import type { EvidenceClaim, PublicKeyRecord, VerificationCheck, VerificationCheckName, VerificationReport, VerificationVerdict } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { trustedKeyFrom, type TrustedKey } from '../dsse/verify-signature.ts';
import {
  checkAnchor,
  checkArtifacts,
  checkCheckpointSignature,
  checkCompleteness,
  checkEntries,
  checkInclusion,
  checkManifests,
  checkTimestamp,
  fail,
  notChecked,
  type AnchorCheckOptions,
  type BundleContext,
  type CheckResult,
} from './bundle-checks.ts';
import { readCheckpoint } from './build-evidence-bundle.ts';
import { resolveBundleLimits, type BundleLimits } from './bundle-limits.ts';
import { readBundle } from './read-bundle.ts';
import { checkCandidates } from './check-candidates.ts';

export interface VerifyBundleOptions extends AnchorCheckOptions {
  /** Public keys the caller trusts (from its own configuration, not from the bundle). */
  readonly trustedKeys?: readonly PublicKeyRecord[];
  /** Key ids the caller trusts: keys in the bundle with these ids (their id is their digest) are trusted. */
  readonly pinnedKeyIds?: readonly string[];
  /** TSA certificates (PEM or X509Certificate) whose RFC 3161 tokens the caller trusts. */
  readonly trustedTsaCertificates?: readonly (X509Certificate | string)[];
  /** Fetches an artifact by digest to check its content; without it only digests are checked. */
  readonly readArtifact?: (digest: string) => Promise<Uint8Array | null>;
  /**
   * What is read of bytes or text before refusing them (`bundleLimits` for any left out, e.g.
   * `{ maxBundleBytes }`). A bundle over a limit fails `entries`, the limit named in its detail.
   * Throws CAIRN_CONFIG_INVALID for a limit that is not a positive whole number.
   */
  readonly limits?: Partial<BundleLimits>;
}

/** The checks, in the order they are reported. */
export const verificationCheckNames: readonly VerificationCheckName[] = [
  'entries',
  'completeness',
  'inclusion',
  'checkpoint-signature',
  'manifests',
  'artifacts',
  'anchor',
  'timestamp',
  'candidates',
];

/**
 * Verifies an evidence bundle offline (and, with `trustedAnchors`, against the anchors the caller
 * trusts, live), and says what it supports. Every check runs and is reported with pass, fail or
 * not-checked and the location of its first failure. The verdict:
 * - `failed`: a check failed;
 * - `untrusted-signer`: nothing failed, but no key came from the caller (`trustedKeys` or
 *   `pinnedKeyIds`): the bundle was checked against its own keys only, which anyone can forge;
 * - `verified`: nothing failed, and the signatures were checked against keys the caller trusts.
 * `valid` is true exactly when the verdict is `verified`. The claim is never more than checked:
 * - `tamper-detecting`: the verdict is not `verified`, or no anchor the caller declared
 *   `external-immutable` held the checkpoint live, and no trusted timestamp was checked;
 * - `tamper-evident`: verified, and every trusted anchor held this checkpoint live, one of them
 *   declared `external-immutable` by the caller (never by a receipt in the bundle);
 * - `witnessed`: verified, and an RFC 3161 token over the checkpoint verified against a TSA
 *   certificate the caller trusts.
 *
 * With `readArtifact`, the report also counts each attempt's egress record (`egress`) once the
 * `artifacts` check passed with the contents read.
 *
 * Accepts the bundle as bytes or text (which must be its exact canonical JSON) or as a value.
 * Never throws for a bad bundle: a bundle that cannot be read, or is over `limits`, fails the
 * `entries` check.
 */
export async function verifyBundle(input: Uint8Array | string | unknown, options: VerifyBundleOptions = {}): Promise<VerificationReport> {
  const read = readBundle(input, resolveBundleLimits(options.limits));
  if (!read.ok) return report(new Map([['entries', fail(read.detail)]]), 'the bundle could not be read');
  const { bundle } = read;
  const trust = resolveTrust(bundle.keys, options);
  if ('problem' in trust) return report(new Map([['checkpoint-signature', fail(trust.problem)]]), 'the keys could not be read');
  let checkpoint;
  try {
    checkpoint = readCheckpoint(bundle.checkpoint);
  } catch {
    checkpoint = undefined;
  }
  const context: BundleContext = { bundle, checkpoint, trustedKeys: trust.keys, selfAsserted: trust.selfAsserted };
  // Inclusion first: for a large bundle its leaves are hashed on a second thread while this one
  // runs the other checks (a million entries: most of the verification time otherwise).
  const inclusion = checkInclusion(context);
  // Awaited below; this keeps an early throw from leaving it unhandled meanwhile.
  inclusion.catch(() => undefined);
  const anchor = await checkAnchor(context, options);
  const artifacts = await checkArtifacts(context, options.readArtifact);
  const entries = checkEntries(context);
  const completeness = checkCompleteness(context);
  const checkpointSignature = checkCheckpointSignature(context);
  const manifests = checkManifests(context);
  const timestamp = checkTimestamp(context, options.trustedTsaCertificates);
  const results = new Map<VerificationCheckName, CheckResult>([
    ['entries', entries],
    ['completeness', completeness],
    ['inclusion', await inclusion],
    ['checkpoint-signature', checkpointSignature],
    ['manifests', manifests],
    ['artifacts', { status: artifacts.status, detail: artifacts.detail }],
    ['anchor', anchor],
    ['timestamp', timestamp],
    ['candidates', checkCandidates(context)],
  ]);
  const offlineChecks: VerificationCheckName[] = ['entries', 'completeness', 'inclusion', 'checkpoint-signature', 'manifests', 'artifacts'];
  const offlinePassed = offlineChecks.every((name) => results.get(name)!.status === 'pass');
  const witnessed = offlinePassed && results.get('timestamp')!.status === 'pass';
  const evident = offlinePassed && anchor.status === 'pass' && anchor.liveGuarantees.includes('external-immutable');
  const claim = witnessed ? 'witnessed' : evident ? 'tamper-evident' : 'tamper-detecting';
  const verified = report(results, undefined, claim, trust.selfAsserted);
  return artifacts.egress === undefined ? verified : { ...verified, egress: artifacts.egress };
}

function report(
  results: ReadonlyMap<VerificationCheckName, CheckResult>,
  skippedBecause?: string,
  claim: EvidenceClaim = 'tamper-detecting',
  selfAsserted = false,
): VerificationReport {
  const checks: VerificationCheck[] = verificationCheckNames.map((name) => ({ name, ...(results.get(name) ?? notChecked(`not run: ${skippedBecause}`)) }));
  const verdict: VerificationVerdict = checks.some((check) => check.status === 'fail') ? 'failed' : selfAsserted ? 'untrusted-signer' : 'verified';
  return { valid: verdict === 'verified', verdict, claim: verdict === 'verified' ? claim : 'tamper-detecting', checks };
}

function resolveTrust(
  bundleKeys: readonly PublicKeyRecord[],
  options: VerifyBundleOptions,
): { keys: TrustedKey[]; selfAsserted: boolean } | { problem: string } {
  try {
    // Every key in the bundle must at least be what its id says, trusted or not.
    const inBundle = bundleKeys.map((record, position) => trustedKeyFrom(record, `$.keys[${position}]`));
    const fromCaller = (options.trustedKeys ?? []).map((record, position) => trustedKeyFrom(record, `trustedKeys[${position}]`));
    const pinned = inBundle.filter((key) => options.pinnedKeyIds?.includes(key.record.keyId));
    // A caller who names keys gets exactly those: an unmatched pin fails the signature check
    // rather than falling back to the bundle's own keys.
    const callerNamedKeys = fromCaller.length > 0 || (options.pinnedKeyIds?.length ?? 0) > 0;
    return callerNamedKeys ? { keys: [...fromCaller, ...pinned], selfAsserted: false } : { keys: inBundle, selfAsserted: true };
  } catch (error) {
    return { problem: isCairnError(error) ? error.message : String(error) };
  }
}
