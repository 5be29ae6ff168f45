// Model calls in a bundle: each `model.called` entry names its request and response bodies, which
// the bundle lists as artifacts beside the attempt's patch and logs, and the artifacts check sums
// the run's metered spend as the entries record it.
import type { AuditEntry, BundleArtifact, EvidenceBundleV1 } from '@cairn/core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, sha256Digest } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { modelCallArtifacts, modelCallUsage } from '../entries/entry-data.ts';
import { modelCallSpend } from '../entries/model-call-spend.ts';
import { serializeEvidenceBundle, sortedUnique } from './build-evidence-bundle.ts';
import { forgeBundle } from './forge-bundle.test-support.ts';
import { createRunEvidence, type RunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

const evidence = await createRunEvidence({ modelCalls: 3 });
const trusted = { trustedKeys: [evidence.signer.record] };
const readArtifact = async (digest: string) => evidence.blobs.get(digest) ?? null;
const calls = evidence.bundle.entries.filter((entry) => entry.action === 'model.called');
const positionOf = (entry: AuditEntry) => evidence.bundle.entries.indexOf(entry);
const bodies = (bundle: EvidenceBundleV1) => bundle.artifacts.filter((artifact) => artifact.kind.startsWith('model-'));

const spendDetail =
  'metered spend as recorded in 3 model.called entries (1 answered, 1 failed, 1 denied by the gateway): ' +
  '1200 input, 460 output, 0 cache-read and 0 cache-write tokens, $0.0105 ' +
  "(usage unknown for 1 and cost unknown for 1 of the 2 calls sent; the figures are the gateway's, proven to be what was logged, not what the provider billed)";

/** The failed checks and their details, of `bundle` verified against the run's key. */
async function failures(bundle: EvidenceBundleV1, options: Parameters<typeof verifyBundle>[1] = trusted) {
  const report = await verifyBundle(serializeEvidenceBundle(bundle), options);
  expect(report).toMatchObject({ valid: false, verdict: 'failed', claim: 'tamper-detecting' });
  return Object.fromEntries(report.checks.filter((check) => check.status === 'fail').map((check) => [check.name, check.detail]));
}

const withArtifacts = (bundle: EvidenceBundleV1, artifacts: BundleArtifact[]): EvidenceBundleV1 => ({
  ...bundle,
  artifacts: sortedUnique(artifacts, canonicalJson),
});

/** The run re-logged and re-signed with the run's own key after `edit` rewrote its entries: only what the entries say is wrong. */
const rewritten = (source: RunEvidence, edit: (entries: AuditEntry[]) => AuditEntry[]) =>
  forgeBundle(source.bundle, [source.signer.record], { signer: source.signer.signer, record: source.signer.record, editEntries: edit, receipts: 'strip' });
const editCall = (index: number, change: (entry: AuditEntry) => AuditEntry) => (entries: AuditEntry[]) => {
  const target = entries.filter((entry) => entry.action === 'model.called')[index];
  return entries.map((entry) => (entry === target ? change(entry) : entry));
};

describe('a run with model calls', () => {
  test('reads: each model.called entry names its bodies and its usage, absent figures unknown', () => {
    expect(calls.map((entry) => entry.outcome)).toEqual(['success', 'failure', 'denied']);
    expect(modelCallArtifacts(calls[0]!)).toEqual({
      itemId: 'edit',
      attempt: 1,
      artifacts: [
        { kind: 'model-request', digest: calls[0]!.data['request'] },
        { kind: 'model-response', digest: calls[0]!.data['response'] },
      ],
    });
    expect(modelCallArtifacts(calls[2]!)!.artifacts.map((artifact) => artifact.kind)).toEqual(['model-request']);
    expect(modelCallUsage(calls[0]!)).toEqual({ inputTokens: 1200, outputTokens: 460, cacheReadTokens: 0, costUsd: 0.0105 });
    expect(modelCallUsage(calls[1]!)).toEqual({});
    expect(modelCallUsage(evidence.bundle.entries[0]!)).toBeUndefined();
    expect(modelCallArtifacts({ ...calls[0]!, data: { ...calls[0]!.data, inputTokens: -1 } })).toBeUndefined();
    expect(modelCallSpend(evidence.bundle.entries)).toEqual({
      calls: 3,
      succeeded: 1,
      failed: 1,
      denied: 1,
      inputTokens: 1200,
      outputTokens: 460,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      costUsd: 0.0105,
      unknownUsage: 1,
      unknownCost: 1,
    });
  });

  test('verifies, its bodies listed as artifacts, and the artifacts check says what it checked and what the entries record as spent', async () => {
    expect(
      bodies(evidence.bundle)
        .map((artifact) => artifact.kind)
        .sort(),
    ).toEqual(['model-request', 'model-request', 'model-request', 'model-response', 'model-response']);
    const digestsOnly = await verifyBundle(evidence.bytes, trusted);
    expect(digestsOnly).toMatchObject({ valid: true, verdict: 'verified' });
    expect(digestsOnly.checks.find((check) => check.name === 'artifacts')!.detail).toBe(
      `8 artifact digests (5 model call bodies), each named by an attempt.completed or model.called entry of its item and attempt (contents not fetched); ${spendDetail}`,
    );
    const fetched = await verifyBundle(evidence.bytes, { ...trusted, readArtifact });
    expect(fetched.valid).toBe(true);
    const detail = fetched.checks.find((check) => check.name === 'artifacts')!.detail;
    expect(detail).toBe(
      `8 artifacts (5 model call bodies), each named by an attempt.completed or model.called entry of its item and attempt and fetched with matching content; ${spendDetail}`,
    );
    // The verification guide shows this very detail.
    expect(readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'audit', 'verification.md'), 'utf8')).toContain(`\n${detail}\n`);
    const plain = await createRunEvidence();
    expect((await verifyBundle(plain.bytes, trusted)).checks.find((check) => check.name === 'artifacts')!.detail).toBe(
      '3 artifact digests (0 model call bodies), each named by an attempt.completed or model.called entry of its item and attempt (contents not fetched); no model.called entries',
    );
  });

  test('a model body removed from the artifacts', async () => {
    const response = bodies(evidence.bundle).find((artifact) => artifact.kind === 'model-response')!;
    const named = evidence.bundle.entries.findIndex((entry) => entry.data['response'] === response.digest);
    expect(
      await failures(
        withArtifacts(
          evidence.bundle,
          evidence.bundle.artifacts.filter((artifact) => artifact !== response),
        ),
      ),
    ).toEqual({
      artifacts: `$.entries[${named}] names an artifact the bundle does not list`,
    });
  });

  test('a model body whose digest was altered', async () => {
    const altered = { ...bodies(evidence.bundle).find((artifact) => artifact.kind === 'model-request')!, digest: sha256Digest('another prompt') };
    const artifacts = [...evidence.bundle.artifacts.filter((artifact) => artifact.digest !== calls[0]!.data['request']), altered];
    const bundle = withArtifacts(evidence.bundle, artifacts);
    expect(await failures(bundle)).toEqual({
      artifacts: `$.artifacts[${bundle.artifacts.indexOf(altered)}]: no model.called entry names model-request ${altered.digest} of edit#1`,
    });
  });

  test('a model body added that no entry names', async () => {
    const added: BundleArtifact = { digest: sha256Digest('a prompt never sent'), kind: 'model-response', itemId: 'edit', attempt: 1 };
    const bundle = withArtifacts(evidence.bundle, [...evidence.bundle.artifacts, added]);
    expect(await failures(bundle)).toEqual({
      artifacts: `$.artifacts[${bundle.artifacts.indexOf(added)}]: no model.called entry names model-response ${added.digest} of edit#1`,
    });
  });

  test('a model body moved to another attempt', async () => {
    const moved = { ...bodies(evidence.bundle)[0]!, attempt: 2 };
    const bundle = withArtifacts(evidence.bundle, [...evidence.bundle.artifacts.filter((artifact) => artifact !== bodies(evidence.bundle)[0]), moved]);
    expect((await failures(bundle))['artifacts']).toBe(
      `$.artifacts[${bundle.artifacts.indexOf(moved)}]: no model.called entry names ${moved.kind} ${moved.digest} of edit#2`,
    );
  });

  test('a model body whose fetched content is not what its entry named', async () => {
    const response = calls[0]!.data['response'] as string;
    const position = evidence.bundle.artifacts.findIndex((artifact) => artifact.digest === response);
    const forged = new TextEncoder().encode('{"type":"message","content":[{"type":"text","text":"Delete the tests."}]}');
    const report = await failures(evidence.bundle, { ...trusted, readArtifact: async (digest) => (digest === response ? forged : readArtifact(digest)) });
    expect(report).toEqual({ artifacts: `$.artifacts[${position}]: the fetched content hashes to ${sha256Digest(forged)}, not ${response}` });
    const missing = await failures(evidence.bundle, { ...trusted, readArtifact: async (digest) => (digest === response ? null : readArtifact(digest)) });
    expect(missing).toEqual({ artifacts: `$.artifacts[${position}]: ${response} could not be fetched` });
  });

  test('a token count changed in an entry', async () => {
    const entries = evidence.bundle.entries.map((entry) => (entry === calls[0] ? { ...entry, data: { ...entry.data, outputTokens: 46 } } : entry));
    const report = await failures({ ...evidence.bundle, entries });
    expect(Object.keys(report)).toEqual(['inclusion']);
    expect(report['inclusion']).toMatch(/^\$\.inclusionProof: the entries do not recompute the root [0-9a-f]{64} of tree size \d+$/);
  });

  test('a model.called entry dropped (with its bodies, or leaving them listed)', async () => {
    const dropped = calls[1]!;
    const entries = evidence.bundle.entries.filter((entry) => entry !== dropped);
    const named = new Set(modelCallArtifacts(dropped)!.artifacts.map((artifact) => artifact.digest));
    const withBodies = await failures({ ...evidence.bundle, entries, artifacts: evidence.bundle.artifacts.filter((artifact) => !named.has(artifact.digest)) });
    expect(withBodies).toEqual({
      completeness: `$.entries[${positionOf(dropped)}].runSeq is ${dropped.runSeq! + 1}, expected ${dropped.runSeq}: entries are missing`,
      inclusion: expect.stringMatching(/^\$\.inclusionProof: the entries do not recompute the root/),
    });
    const leftListed = await failures({ ...evidence.bundle, entries });
    const orphan = evidence.bundle.artifacts.findIndex((artifact) => named.has(artifact.digest));
    expect(leftListed['artifacts']).toBe(
      `$.artifacts[${orphan}]: no model.called entry names ${evidence.bundle.artifacts[orphan]!.kind} ${evidence.bundle.artifacts[orphan]!.digest} of edit#1`,
    );
  });
});

describe('model.called entries a key holder logged wrongly are named, even in a validly signed history', () => {
  // The log was rewritten and re-signed with the trusted key: inclusion and signatures hold, so
  // only the artifacts check stands between the reader and a spend the format does not allow.
  test('data that is not the documented shape', async () => {
    const bundle = await rewritten(
      evidence,
      editCall(0, (entry) => ({ ...entry, data: { ...entry.data, inputTokens: -1200 } })),
    );
    expect(await failures(bundle)).toEqual({
      artifacts: `$.entries[${positionOf(calls[0]!)}].data.inputTokens: must not be negative (the data of a model.called entry, docs/audit/formats.md)`,
    });
    const unknownMember = await rewritten(
      evidence,
      editCall(1, (entry) => ({ ...entry, data: { ...entry.data, billedUsd: 3 } })),
    );
    expect(await failures(unknownMember)).toEqual({
      artifacts: `$.entries[${positionOf(calls[1]!)}].data.billedUsd: is not a member the format defines (the data of a model.called entry, docs/audit/formats.md)`,
    });
  });

  test('a call of an attempt the run never dispatched, or recorded against another execution', async () => {
    const ghost = await rewritten(
      evidence,
      editCall(0, (entry) => ({ ...entry, data: { ...entry.data, attempt: 2 } })),
    );
    expect(await failures(ghost)).toEqual({
      artifacts: `$.entries[${positionOf(calls[0]!)}]: a model call of edit#2, an attempt no earlier attempt.dispatched entry of the run started`,
    });
    const elsewhere = await rewritten(
      evidence,
      editCall(2, (entry) => ({ ...entry, entity: { kind: 'attempt', id: 'run-0/edit/1' } })),
    );
    expect(await failures(elsewhere)).toEqual({
      artifacts: `$.entries[${positionOf(calls[2]!)}].entity is attempt run-0/edit/1, not the attempt run-1/edit/1 dispatched as edit#1`,
    });
  });

  test('a success the provider did not answer with 2xx', async () => {
    const bundle = await rewritten(
      evidence,
      editCall(1, (entry) => ({ ...entry, outcome: 'success', data: { ...entry.data, status: 529 } })),
    );
    expect(await failures(bundle)).toEqual({
      artifacts: `$.entries[${positionOf(calls[1]!)}]: outcome success with HTTP status 529; a model call succeeds only with a 2xx answer`,
    });
  });
});
