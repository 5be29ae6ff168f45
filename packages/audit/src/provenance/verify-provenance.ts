import type { PublicKeyRecord } from '@cairn/core';
import { isCairnError, parsePayload, sha256Digest } from '@cairn/protocol';
import { openEnvelope } from '../dsse/dsse-envelope.ts';
import { trustedKeyFrom } from '../dsse/verify-signature.ts';
import { parseCanonicalPayload } from '../checkpoint/canonical-payload.ts';
import { inTotoPayloadType, provenanceStatementSchema, type ProvenanceStatement } from './provenance-statement.ts';
import { sigstoreBundleSchema, type SigstoreBundle } from './sigstore-bundle.ts';

export type ProvenanceCheckName = 'bundle' | 'signature' | 'statement' | 'subject';

export interface ProvenanceCheck {
  readonly name: ProvenanceCheckName;
  readonly status: 'pass' | 'fail' | 'not-checked';
  /** What was checked, or where (a JSON path into the bundle) and why it failed. */
  readonly detail: string;
}

/** What `verifyProvenance` found: `valid` only when nothing failed and the signed statement was read. */
export interface ProvenanceVerification {
  readonly valid: boolean;
  /** `bundle`, `signature`, `statement`, `subject`, in that order. */
  readonly checks: readonly ProvenanceCheck[];
  /** The statement, once its signature verified under a trusted key and it is valid; never an unsigned one. */
  readonly statement?: ProvenanceStatement;
}

export interface VerifyProvenanceOptions {
  /** The keys the caller trusts to sign provenance (its own configuration, never the bundle's hint). */
  readonly trustedKeys: readonly PublicKeyRecord[];
  /** The patch the provenance is for: its SHA-256 must be the statement's subject. */
  readonly patch?: Uint8Array;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Verifies a patch's provenance (a Sigstore bundle v0.3 holding a DSSE-signed in-toto statement,
 * as `signProvenance` writes it) offline, against keys the caller trusts. Every check is reported;
 * a check whose input did not hold is `not-checked`, and nothing unsigned is ever read as the
 * statement. Never throws for a bad bundle.
 * - `bundle`: UTF-8 JSON, a Sigstore bundle v0.3 with a DSSE envelope, one signature, and a key hint
 *   that is the signature's key id;
 * - `signature`: payloadType `application/vnd.in-toto+json`, signed by a trusted key over its PAE;
 * - `statement`: the signed payload is the canonical JSON of an in-toto Statement v1 with a SLSA
 *   Provenance v1 predicate of Cairn's build type;
 * - `subject`: with `patch`, its SHA-256 is the statement's subject digest (not-checked without one).
 */
export function verifyProvenance(bytes: Uint8Array, options: VerifyProvenanceOptions): ProvenanceVerification {
  const checks: ProvenanceCheck[] = [];
  const report = (statement?: ProvenanceStatement): ProvenanceVerification => {
    const failed = checks.at(-1)?.name;
    for (const name of ['bundle', 'signature', 'statement', 'subject'] as const) {
      if (!checks.some((check) => check.name === name)) checks.push({ name, status: 'not-checked', detail: `not checked: the ${failed} check failed` });
    }
    const valid = checks.every((check) => check.status !== 'fail') && statement !== undefined;
    return { valid, checks, ...(statement === undefined ? {} : { statement }) };
  };

  let bundle: SigstoreBundle;
  try {
    bundle = parsePayload(sigstoreBundleSchema, JSON.parse(decoder.decode(bytes)), 'Sigstore bundle');
  } catch (error) {
    checks.push({ name: 'bundle', status: 'fail', detail: messageOf(error, 'the bytes are not UTF-8 JSON') });
    return report();
  }
  const [signature] = bundle.dsseEnvelope.signatures;
  if (bundle.verificationMaterial.publicKey.hint !== signature.keyid) {
    checks.push({
      name: 'bundle',
      status: 'fail',
      detail: `$.verificationMaterial.publicKey.hint is ${bundle.verificationMaterial.publicKey.hint}, but the signature names key ${signature.keyid}`,
    });
    return report();
  }
  checks.push({ name: 'bundle', status: 'pass', detail: `a Sigstore bundle v0.3 with one DSSE signature by key ${signature.keyid}` });

  let payload: Uint8Array;
  try {
    if (options.trustedKeys.length === 0) throw new Error('no key is trusted: name the key the provenance must be signed by');
    const trusted = options.trustedKeys.map((record, index) => trustedKeyFrom(record, `trustedKeys[${index}]`));
    payload = openEnvelope(bundle.dsseEnvelope, inTotoPayloadType, trusted).payload;
  } catch (error) {
    checks.push({ name: 'signature', status: 'fail', detail: `$.dsseEnvelope: ${messageOf(error)}` });
    return report();
  }
  checks.push({ name: 'signature', status: 'pass', detail: `payloadType ${inTotoPayloadType}, signed by trusted key ${signature.keyid}` });

  let statement: ProvenanceStatement;
  try {
    statement = parseCanonicalPayload(payload, provenanceStatementSchema, 'provenance statement', '$.dsseEnvelope.payload');
  } catch (error) {
    checks.push({ name: 'statement', status: 'fail', detail: `$.dsseEnvelope.payload: ${messageOf(error)}` });
    return report();
  }
  const { externalParameters, internalParameters } = statement.predicate.buildDefinition;
  checks.push({
    name: 'statement',
    status: 'pass',
    detail: `an in-toto Statement v1 with SLSA Provenance v1: item ${externalParameters.itemId} of run ${externalParameters.runId}, attempt ${internalParameters.attempt}`,
  });

  const subject = `sha256:${statement.subject[0].digest.sha256}`;
  if (options.patch === undefined) {
    checks.push({ name: 'subject', status: 'not-checked', detail: `no patch given: the statement is about ${statement.subject[0].name} ${subject}` });
  } else {
    const actual = sha256Digest(options.patch);
    checks.push(
      actual === subject
        ? { name: 'subject', status: 'pass', detail: `the patch is the subject ${statement.subject[0].name} (${subject})` }
        : { name: 'subject', status: 'fail', detail: `$.subject[0].digest: the patch hashes to ${actual}, but the statement is about ${subject}` },
    );
  }
  return report(statement);
}

function messageOf(error: unknown, fallback?: string): string {
  if (isCairnError(error) || error instanceof Error) return fallback !== undefined && error instanceof SyntaxError ? fallback : error.message;
  return String(error);
}
