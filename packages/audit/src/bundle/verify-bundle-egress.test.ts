// An attempt's egress record (ADR 0049) in a bundle: its `attempt.completed` entry names it, the
// bundle lists it beside the patch and logs, and a verifier that reads the contents checks every
// line and counts its connections; one that does not says it did not.
import type { AuditEntry, EgressRecordCounts } from '@cairn/core';
import { canonicalJson, sha256Digest } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { readEgressRecord } from './egress-report.ts';
import { forgeBundle } from './forge-bundle.test-support.ts';
import { createRunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

const evidence = await createRunEvidence();
const trusted = { trustedKeys: [evidence.signer.record] };

const connection = (fields: Record<string, unknown>) => ({
  host: 'registry.npmjs.org',
  port: 443,
  kind: 'connect',
  address: '104.16.0.34',
  decision: 'allowed',
  rule: 'registry.npmjs.org',
  reason: null,
  message: null,
  wouldAdmit: null,
  bytesIn: 5120,
  bytesOut: 730,
  credential: null,
  startedAt: '2026-11-22T10:00:01.000Z',
  endedAt: '2026-11-22T10:00:02.500Z',
  ...fields,
});
const refused = (host: string, reason: string, wouldAdmit: string | null) =>
  connection({ host, address: null, decision: 'refused', rule: null, reason, message: `${host} is refused`, wouldAdmit, bytesIn: 0, bytesOut: 0 });
const ndjson = (records: readonly object[]) => new TextEncoder().encode(records.map((record) => `${canonicalJson(record)}\n`).join(''));

/** Six connections: three allowed (one brokering a credential), two refused, one cut. */
const connections = [
  connection({}),
  connection({ host: 'api.github.com', credential: 'GITHUB_TOKEN', rule: 'api.github.com' }),
  connection({ kind: 'http', port: 80, host: 'deb.debian.org', rule: 'deb.debian.org' }),
  refused('example.com', 'not-allowed', 'example.com'),
  refused('metadata.internal', 'address-forbidden', null),
  connection({ host: 'files.example.org', decision: 'cut', reason: 'byte-limit', message: 'over the byte limit' }),
];
const expectedCounts = { allowed: 3, refused: 2, cut: 1, refusedBy: { 'not-allowed': 1, 'address-forbidden': 1 }, cutBy: { 'byte-limit': 1 } };

/**
 * The run re-logged and re-signed by its own key with `record` as the `edit` attempt's egress
 * artifact, as the engine logs it from the start: the digest is bound, whatever the bytes say.
 */
async function withEgress(record: Uint8Array, as: 'egress' | 'environmentEgress' = 'egress') {
  const digest = sha256Digest(record);
  const kind = as === 'egress' ? 'egress' : 'environment-egress';
  const addEgress = (entries: AuditEntry[]) =>
    entries.map((entry) =>
      entry.action === 'attempt.completed'
        ? { ...entry, data: { ...entry.data, artifacts: { ...(entry.data['artifacts'] as Record<string, string>), [as]: digest } } }
        : entry,
    );
  const bundle = await forgeBundle(evidence.bundle, [evidence.signer.record], {
    signer: evidence.signer.signer,
    record: evidence.signer.record,
    editEntries: addEgress,
    receipts: 'strip',
  });
  const blobs = new Map([...evidence.blobs, [digest, record]]);
  return { bundle, digest, position: bundle.artifacts.findIndex((artifact) => artifact.kind === kind), blobs };
}
const artifactsCheck = (report: Awaited<ReturnType<typeof verifyBundle>>) => report.checks.find((check) => check.name === 'artifacts')!;

describe('an egress record in a bundle', () => {
  test('with contents read: verified, each connection counted in the detail and in the report', async () => {
    const { bundle, digest, blobs } = await withEgress(ndjson(connections));
    expect(bundle.artifacts.filter((artifact) => artifact.kind === 'egress')).toEqual([{ kind: 'egress', digest, itemId: 'edit', attempt: 1 }]);
    const report = await verifyBundle(bundle, { ...trusted, readArtifact: async (wanted) => blobs.get(wanted) ?? null });
    expect(report).toMatchObject({ valid: true, verdict: 'verified' });
    expect(artifactsCheck(report)).toEqual({
      name: 'artifacts',
      status: 'pass',
      detail: expect.stringContaining(
        '4 artifacts (0 model call bodies), each named by an attempt.completed or model.called entry of its item and attempt and fetched with matching content; ' +
          '1 egress record read: edit#1: 3 allowed, 2 refused (not-allowed 1, address-forbidden 1), 1 cut (byte-limit 1); ',
      ),
    });
    expect(report.egress).toEqual([{ itemId: 'edit', attempt: 1, digest, ...expectedCounts } satisfies EgressRecordCounts]);
  });

  test('without contents: the detail counts the records listed and says their contents were not checked; nothing is counted', async () => {
    const { bundle } = await withEgress(ndjson(connections));
    const report = await verifyBundle(bundle, trusted);
    expect(report).toMatchObject({ valid: true, verdict: 'verified' });
    expect(artifactsCheck(report).detail).toContain('4 artifact digests (0 model call bodies), each named by');
    expect(artifactsCheck(report).detail).toContain('(contents not fetched); 1 egress record listed, its contents not checked; ');
    expect(report.egress).toBeUndefined();
    // A run without an egress record reads as before, and with contents read counts none.
    const plain = await verifyBundle(evidence.bundle, { ...trusted, readArtifact: async (wanted) => evidence.blobs.get(wanted) ?? null });
    expect(artifactsCheck(plain).detail).not.toContain('egress');
    expect(plain.egress).toEqual([]);
  });

  test('a byte of the record edited after the fact: the fetched content does not hash to the digest the log names', async () => {
    const { bundle, digest, position, blobs } = await withEgress(ndjson(connections));
    const edited = Uint8Array.from(blobs.get(digest)!);
    // "allowed" becomes "allowee" in the first line: still JSON, no longer the record.
    const at = Buffer.from(edited).indexOf('allowed');
    edited[at + 6] = 'e'.charCodeAt(0);
    const report = await verifyBundle(bundle, { ...trusted, readArtifact: async (wanted) => (wanted === digest ? edited : (blobs.get(wanted) ?? null)) });
    expect(report).toMatchObject({ valid: false, verdict: 'failed' });
    expect(artifactsCheck(report)).toMatchObject({
      status: 'fail',
      detail: `$.artifacts[${position}]: the fetched content hashes to ${sha256Digest(edited)}, not ${digest}`,
    });
    expect(report.egress).toBeUndefined();
  });

  test('a malformed record hashed and logged as it is: fails the artifacts check naming the artifact and the line', async () => {
    const line = (record: object) => `${canonicalJson(record)}\n`;
    const good = line(connections[0]!);
    const { credential: _credential, ...withoutCredential } = connections[1]!;
    const cases: [record: string, line: number, problem: string][] = [
      [good + line({ ...connections[1]!, bytesIn: '12' }), 2, 'bytesIn: is "12", not a whole number 0..9007199254740991'],
      [good + good + line(withoutCredential), 3, 'credential: is missing (every field is present in every record, null where it does not apply)'],
      [good + line({ ...connections[0]!, secret: 'x' }), 2, 'secret: is not a field of the egress record'],
      [line({ ...connections[0]!, decision: 'maybe' }), 1, 'decision: is "maybe", not one of allowed, refused, cut'],
      [line({ ...connections[0]!, port: 70_000 }), 1, 'port: is 70000, not a whole number 0..65535'],
      [line({ ...connections[0]!, startedAt: 'yesterday' }), 1, 'startedAt: is "yesterday", not an ISO 8601 UTC time'],
      [line({ ...connections[3]!, reason: null }), 1, 'reason: is null for a refused connection'],
      [line({ ...connections[0]!, reason: 'not-allowed' }), 1, 'reason: is "not-allowed" for an allowed connection'],
      [good + '[1,2]\n', 2, 'is not a JSON object'],
      [good + '\n', 2, 'is not JSON (Unexpected end of JSON input)'],
      [good + canonicalJson(connections[0]!), 2, 'does not end with a newline (each record of the NDJSON ends with one)'],
    ];
    for (const [record, number, problem] of cases) {
      const { bundle, digest, position, blobs } = await withEgress(new TextEncoder().encode(record));
      const report = await verifyBundle(bundle, { ...trusted, readArtifact: async (wanted) => blobs.get(wanted) ?? null });
      expect([problem, artifactsCheck(report)]).toEqual([
        problem,
        { name: 'artifacts', status: 'fail', detail: `$.artifacts[${position}]: the egress record of edit#1 (${digest}), line ${number}: ${problem}` },
      ]);
      expect(report.verdict).toBe('failed');
      // Without the contents the same bundle verifies: only its digest is bound.
      expect((await verifyBundle(bundle, trusted)).verdict).toBe('verified');
    }
  });

  test("an environment setup's record (ADR 0056): listed as environment-egress, read line by line, not counted as the attempt's", async () => {
    const { bundle, digest, blobs } = await withEgress(ndjson(connections), 'environmentEgress');
    expect(bundle.artifacts.filter((artifact) => artifact.kind === 'environment-egress')).toEqual([
      { kind: 'environment-egress', digest, itemId: 'edit', attempt: 1 },
    ]);
    const read = async (wanted: string) => blobs.get(wanted) ?? null;
    const report = await verifyBundle(bundle, { ...trusted, readArtifact: read });
    expect(report).toMatchObject({ valid: true, verdict: 'verified' });
    expect(report.egress).toEqual([]);
    const malformed = await withEgress(ndjson([{ ...connections[0]!, decision: 'maybe' }]), 'environmentEgress');
    const failed = await verifyBundle(malformed.bundle, { ...trusted, readArtifact: async (wanted) => malformed.blobs.get(wanted) ?? null });
    expect(artifactsCheck(failed)).toEqual({
      name: 'artifacts',
      status: 'fail',
      detail: `$.artifacts[${malformed.position}]: the environment setup's egress record of edit#1 (${malformed.digest}), line 1: decision: is "maybe", not one of allowed, refused, cut`,
    });
  });

  test('reads an empty record (no connection) as nothing counted, and UTF-8 host names', () => {
    expect(readEgressRecord(new Uint8Array())).toEqual({ counts: { allowed: 0, refused: 0, cut: 0, refusedBy: {}, cutBy: {} } });
    expect(readEgressRecord(ndjson([connection({ host: 'bücher.example' })]))).toEqual({
      counts: { allowed: 1, refused: 0, cut: 0, refusedBy: {}, cutBy: {} },
    });
    expect(readEgressRecord(Uint8Array.of(0xff, 0x0a))).toEqual({ line: 1, problem: expect.stringMatching(/^is not JSON \(.*\)$/) });
  });
});
