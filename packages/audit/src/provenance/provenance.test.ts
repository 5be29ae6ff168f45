import type { AuditEntry } from '@cairn/core';
import { canonicalJsonBytes, digestOfJson, isCairnError, sha256Digest } from '@cairn/protocol';
import { VerificationError } from '@sigstore/verify';
import { describe, expect, test } from 'vitest';
import { createRunEvidence } from '../bundle/run-evidence.test-support.ts';
import { encodeBase64 } from '../dsse/base64.ts';
import { signEnvelope } from '../dsse/dsse-envelope.ts';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { auditEntryBytes } from '../entries/audit-entry-leaf.ts';
import { findPatchAttempt, patchProvenanceStatement } from './patch-provenance.ts';
import { serializeProvenanceBundle, signProvenance } from './sign-provenance.ts';
import { verifyWithSigstore } from './sigstore-verifier.test-support.ts';
import { verifyProvenance } from './verify-provenance.ts';

const builder = { id: 'cairn:test', version: '0.1.0' };

/** A run's evidence (one item, three model calls) and its item's signed provenance. */
async function provenanceOf(algorithm: 'ed25519' | 'ecdsa-p256-sha256') {
  const evidence = await createRunEvidence({ algorithm, modelCalls: 3 });
  const entries = evidence.allEntries.filter((entry) => entry.runId === 'run-1');
  const attempt = findPatchAttempt(entries, 'edit');
  const manifest = evidence.bundle.manifests.find((stored) => stored.digest === attempt.manifestDigest)!;
  const statement = patchProvenanceStatement(attempt, canonicalJsonBytes(manifest.envelope), builder);
  const bundle = await signProvenance(statement, evidence.signer.signer);
  const patch = evidence.blobs.get(attempt.patchDigest)!;
  return { evidence, entries, attempt, manifest, statement, bytes: serializeProvenanceBundle(bundle), patch, trusted: [evidence.signer.record] };
}

const checksOf = (report: ReturnType<typeof verifyProvenance>) => Object.fromEntries(report.checks.map((check) => [check.name, check.status]));
const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, any>;
const bytesOf = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe.each(['ed25519', 'ecdsa-p256-sha256'] as const)('provenance signed with %s', (algorithm) => {
  test('the statement says what made the patch, and both Cairn and @sigstore/verify verify it', async () => {
    const { entries, attempt, manifest, statement, bytes, patch, trusted } = await provenanceOf(algorithm);
    expect(sha256Digest(patch)).toBe(attempt.patchDigest);
    expect(statement.subject).toEqual([{ name: 'edit.patch', digest: { sha256: attempt.patchDigest.slice(7) } }]);
    const { buildDefinition, runDetails } = statement.predicate;
    expect(buildDefinition.externalParameters).toEqual({ runId: 'run-1', itemId: 'edit', specDigest: attempt.specDigest });
    const opened = json(Buffer.from((manifest.envelope as { payload: string }).payload, 'base64'));
    expect(buildDefinition.resolvedDependencies.slice(0, 2)).toEqual([
      { name: 'workspace', digest: { sha256: (opened['workspace'] as string).slice(7) } },
      { name: 'dispatch-manifest', digest: { sha256: manifest.digest.slice(7) }, mediaType: 'application/json' },
    ]);
    expect(runDetails.metadata.invocationId).toBe('run-1/edit/1');
    // Each model call is its audit entry, by the digest of its canonical JSON, with what it metered.
    const calls = entries.filter((entry) => entry.action === 'model.called');
    expect(calls).toHaveLength(3);
    expect(runDetails.byproducts.map((byproduct) => byproduct.digest.sha256)).toEqual(calls.map((entry) => sha256Digest(auditEntryBytes(entry)).slice(7)));
    expect(runDetails.byproducts[0]!.annotations).toEqual({
      seq: calls[0]!.seq,
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
      outcome: 'success',
      inputTokens: 1200,
      outputTokens: 460,
      cacheReadTokens: 0,
      costUsd: 0.0105,
    });
    expect(runDetails.byproducts.map((byproduct) => byproduct.annotations?.outcome)).toEqual(['success', 'failure', 'denied']);

    const bundle = json(bytes);
    expect(bundle['mediaType']).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(bundle['verificationMaterial']).toEqual({ publicKey: { hint: trusted[0]!.keyId }, tlogEntries: [] });
    expect(bundle['dsseEnvelope']['payloadType']).toBe('application/vnd.in-toto+json');

    const report = verifyProvenance(bytes, { trustedKeys: trusted, patch });
    expect(
      report.checks.every((check) => check.status === 'pass'),
      JSON.stringify(report.checks),
    ).toBe(true);
    expect(report).toMatchObject({ valid: true, statement });
    expect(verifyWithSigstore(bytes, trusted, patch)).toEqual({ subject: attempt.patchDigest.slice(7) });
  });

  test('a changed patch, statement or signature, or another key, fails both verifiers, named', async () => {
    const { statement, bytes, patch, trusted } = await provenanceOf(algorithm);
    const bundle = json(bytes);
    const otherPatch = new TextEncoder().encode(`${new TextDecoder().decode(patch)}\n+one more line\n`);

    // The patch: the signature holds, the subject does not.
    expect(checksOf(verifyProvenance(bytes, { trustedKeys: trusted, patch: otherPatch }))).toEqual({
      bundle: 'pass',
      signature: 'pass',
      statement: 'pass',
      subject: 'fail',
    });
    expect(verifyProvenance(bytes, { trustedKeys: trusted, patch: otherPatch }).checks[3]!.detail).toMatch(
      /the patch hashes to sha256:\w+, but the statement is about/,
    );
    expect(() => verifyWithSigstore(bytes, trusted, otherPatch)).toThrow(/subject mismatch/);

    // The statement: another subject, re-encoded under the same signature.
    const forged = { ...statement, subject: [{ name: 'edit.patch', digest: { sha256: sha256Digest(otherPatch).slice(7) } }] };
    const changedStatement = bytesOf({ ...bundle, dsseEnvelope: { ...bundle['dsseEnvelope'], payload: encodeBase64(canonicalJsonBytes(forged)) } });
    const statementReport = verifyProvenance(changedStatement, { trustedKeys: trusted, patch: otherPatch });
    expect(statementReport).toMatchObject({
      valid: false,
      checks: [{ status: 'pass' }, { name: 'signature', status: 'fail' }, { status: 'not-checked' }, { status: 'not-checked' }],
    });
    expect(statementReport.checks[1]!.detail).toMatch(/No signature of the envelope verifies with the trusted key/);
    expect(statementReport).not.toHaveProperty('statement');
    expect(() => verifyWithSigstore(changedStatement, trusted, otherPatch)).toThrow(VerificationError);
    expect(() => verifyWithSigstore(changedStatement, trusted, otherPatch)).toThrow(/signature verification failed/);

    // The signature: one bit flipped.
    const signature = Buffer.from(bundle['dsseEnvelope']['signatures'][0]['sig'], 'base64');
    signature[signature.length - 1]! ^= 1;
    const flipped = bytesOf({
      ...bundle,
      dsseEnvelope: { ...bundle['dsseEnvelope'], signatures: [{ ...bundle['dsseEnvelope']['signatures'][0], sig: signature.toString('base64') }] },
    });
    expect(checksOf(verifyProvenance(flipped, { trustedKeys: trusted, patch }))).toMatchObject({ signature: 'fail' });
    expect(() => verifyWithSigstore(flipped, trusted, patch)).toThrow(/signature verification failed/);

    // Another key: the statement signed again by a key nobody trusts.
    const impostor = createTestSigner(algorithm);
    const resigned = serializeProvenanceBundle(await signProvenance(statement, impostor.signer));
    expect(verifyProvenance(resigned, { trustedKeys: trusted, patch }).checks[1]).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(`signed by ${impostor.record.keyId}, which is not trusted`),
    });
    expect(() => verifyWithSigstore(resigned, trusted, patch)).toThrow(/key not found/);
    // ... and relabelled with the trusted key's id: the signature does not verify under it.
    const relabelled = json(resigned);
    relabelled['verificationMaterial'] = { publicKey: { hint: trusted[0]!.keyId }, tlogEntries: [] };
    relabelled['dsseEnvelope']['signatures'][0]['keyid'] = trusted[0]!.keyId;
    expect(checksOf(verifyProvenance(bytesOf(relabelled), { trustedKeys: trusted, patch }))).toMatchObject({ bundle: 'pass', signature: 'fail' });
    expect(() => verifyWithSigstore(bytesOf(relabelled), trusted, patch)).toThrow(/signature verification failed/);
  });
});

test('a statement of another payload type, a hint that is not the signer, a statement Cairn would not write, or no trusted key, each fail, named', async () => {
  const { evidence, statement, bytes, trusted } = await provenanceOf('ed25519');
  const bundle = json(bytes);
  const otherType = await signEnvelope('application/json', canonicalJsonBytes(statement), evidence.signer.signer);
  const retyped = bytesOf({ ...bundle, dsseEnvelope: { ...otherType } });
  expect(verifyProvenance(retyped, { trustedKeys: trusted }).checks[1]).toMatchObject({ status: 'fail', detail: expect.stringContaining('payloadType') });

  const hinted = bytesOf({ ...bundle, verificationMaterial: { publicKey: { hint: 'sha256:00' }, tlogEntries: [] } });
  expect(verifyProvenance(hinted, { trustedKeys: trusted }).checks[0]).toMatchObject({
    status: 'fail',
    detail: expect.stringContaining('publicKey.hint is sha256:00'),
  });

  // Validly signed, but not a SLSA Provenance v1 statement of Cairn's build type.
  const otherBuild = {
    ...statement,
    predicate: { ...statement.predicate, buildDefinition: { ...statement.predicate.buildDefinition, buildType: 'https://example.com/other' } },
  };
  const envelope = await signEnvelope('application/vnd.in-toto+json', canonicalJsonBytes(otherBuild), evidence.signer.signer);
  const signedOther = bytesOf({ ...bundle, dsseEnvelope: envelope });
  expect(verifyProvenance(signedOther, { trustedKeys: trusted }).checks.slice(1, 3)).toMatchObject([
    { status: 'pass' },
    { name: 'statement', status: 'fail', detail: expect.stringContaining('buildType') },
  ]);

  expect(verifyProvenance(bytes, { trustedKeys: [] })).toMatchObject({
    valid: false,
    checks: [{}, { status: 'fail', detail: expect.stringContaining('no key is trusted') }, {}, {}],
  });
  expect(verifyProvenance(new TextEncoder().encode('not json'), { trustedKeys: trusted }).checks[0]).toMatchObject({ status: 'fail' });
  // Without the patch, the subject is not checked, and the report says so.
  expect(verifyProvenance(bytes, { trustedKeys: trusted })).toMatchObject({ valid: true, checks: [{}, {}, {}, { status: 'not-checked' }] });
});

test('the statement is built only from the attempt that made the patch, and its manifest', async () => {
  const { evidence, entries, attempt } = await provenanceOf('ed25519');
  const notFound = (run: () => unknown, message: RegExp) => {
    try {
      run();
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_NOT_FOUND') || isCairnError(error, 'CAIRN_DIGEST_MISMATCH'), String(error)).toBe(true);
      expect(String(error)).toMatch(message);
    }
  };
  notFound(() => findPatchAttempt(entries, 'nothing'), /No attempt of item nothing made a patch/);
  notFound(() => findPatchAttempt(entries, 'edit', digestOfJson('another patch')), /made sha256:/);
  const withoutDispatch = entries.filter((entry: AuditEntry) => entry.action !== 'attempt.dispatched');
  notFound(() => findPatchAttempt(withoutDispatch, 'edit'), /has no attempt.dispatched entry/);
  // Bytes other than those the log names are refused; so is another attempt's manifest.
  notFound(() => patchProvenanceStatement(attempt, new TextEncoder().encode('{}'), builder), /hashes to sha256:\w+, not sha256:/);
  const otherManifest = canonicalJsonBytes(evidence.bundle.manifests[0]!.envelope);
  const elsewhere = { ...attempt, itemId: 'edit-2', manifestDigest: sha256Digest(otherManifest) };
  expect(() => patchProvenanceStatement(elsewhere, otherManifest, builder)).toThrow(/is for run-1\/edit attempt 1, not run-1\/edit-2 attempt 1/);
});
