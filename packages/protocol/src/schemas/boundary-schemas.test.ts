import type { AuditEntry, DispatchManifest, ResultRecord } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import {
  auditActions,
  auditEntityKinds,
  auditEntrySchema,
  cairnEventSchema,
  checkpointSchema,
  dispatchManifestSchema,
  executionHandleSchema,
  isCairnError,
  keyDelegationSchema,
  parsePayload,
  resultRecordSchema,
  sha256Digest,
  signerRotationSchema,
} from '../index.ts';

const digest = sha256Digest('x');
const time = '2026-11-22T10:00:00.000Z';

const manifest: DispatchManifest = {
  version: 'cairn.manifest/v1',
  runId: 'r1',
  itemId: 'verify',
  attempt: 1,
  fencingToken: 7,
  executionId: 'r1/verify/1',
  runtime: { kind: 'command', argv: ['npm', 'test'] },
  workspace: digest,
  inputs: { a: { from: 'edit-alpha', select: 'patch', digest } },
  apply: ['a'],
  env: { CI: '1' },
  secretNames: ['GITHUB_TOKEN'],
  limits: { timeoutMs: 600_000, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 },
  effect: 'pure',
  issuedAt: time,
};

const result: ResultRecord = {
  version: 'cairn.result/v1',
  runId: 'r1',
  itemId: 'verify',
  attempt: 1,
  fencingToken: 7,
  executionId: 'r1/verify/1',
  manifestDigest: digest,
  outcome: 'failed',
  exitCode: null,
  startedAt: time,
  finishedAt: time,
  artifacts: { stdout: digest, stderr: digest },
};

const entry: AuditEntry = {
  seq: 0,
  time,
  actor: { kind: 'token', id: 'tok_1', via: 'http' },
  action: 'run.submitted',
  entity: { kind: 'run', id: 'r1' },
  outcome: 'success',
  runId: 'r1',
  runSeq: 0,
  data: { specDigest: digest, items: 4 },
};

describe('boundary schemas', () => {
  test.each([
    ['dispatch manifest', dispatchManifestSchema, manifest],
    ['result record', resultRecordSchema, result],
    ['audit entry', auditEntrySchema, entry],
    ['checkpoint', checkpointSchema, { origin: 'cairn:test', treeSize: 3, rootHash: digest.slice(7), time }],
    ['event', cairnEventSchema, { id: 1, time, runId: 'r1', type: 'item.state', itemId: 'a', state: 'awaiting-approval' }],
    ['execution handle', executionHandleSchema, { executor: 'local', executionId: 'r1/a/1', pid: 42, started: '2026' }],
  ])('a valid %s passes unchanged', (_name, schema, value) => {
    expect(parsePayload(schema, value, 'it')).toEqual(value);
  });

  test('parsePayload names every problem by JSON path', () => {
    try {
      parsePayload(
        resultRecordSchema,
        { ...result, outcome: 'exploded', artifacts: { stdout: 'sha256:nope', stderr: digest } },
        'result record results/r1.json',
      );
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
      const { issues, message } = error as { issues: { path: string }[]; message: string };
      expect(issues.map((issue) => issue.path)).toEqual(['$.outcome', '$.artifacts.stdout']);
      expect(message).toMatch(/^result record results\/r1\.json is not valid: \$\.outcome .* \(and 1 more\)\.$/);
    }
  });

  test('an audit entry needs runId and runSeq together, and refuses unknown actions and fields', () => {
    const { runSeq: _dropped, ...withoutRunSeq } = entry;
    expect(auditEntrySchema.safeParse(withoutRunSeq).success).toBe(false);
    expect(auditEntrySchema.safeParse({ ...entry, action: 'run.exploded' }).success).toBe(false);
    expect(auditEntrySchema.safeParse({ ...entry, secret: 'x' }).success).toBe(false);
  });

  test('a key delegation is for dispatch manifests only, and its key.delegated entry is a known action on a key', () => {
    const delegation = {
      delegate: { keyId: digest, algorithm: 'ed25519', publicKey: 'AAAA' },
      purpose: 'dispatch-manifest',
      delegatedBy: sha256Digest('checkpoint key'),
      issuedAt: time,
    };
    expect(parsePayload(keyDelegationSchema, delegation, 'key delegation')).toEqual(delegation);
    expect(() => parsePayload(keyDelegationSchema, { ...delegation, purpose: 'checkpoint' }, 'key delegation')).toThrow(
      /\$\.purpose must be dispatch-manifest/,
    );
    expect(keyDelegationSchema.safeParse({ ...delegation, expires: time }).success).toBe(false);
    const delegated = { ...entry, action: 'key.delegated', entity: { kind: 'key', id: digest } } as Record<string, unknown>;
    delete delegated['runId'];
    delete delegated['runSeq'];
    expect(auditEntrySchema.safeParse(delegated).success).toBe(true);
  });

  test('a handle must stay JSON', () => {
    expect(executionHandleSchema.safeParse({ executor: 'local', executionId: 'x', when: new Date() }).success).toBe(false);
    expect(executionHandleSchema.safeParse({ executor: 'local' }).success).toBe(false);
  });
});

test('timestamps: UTC with seconds on real calendar days', async () => {
  const { isTimestamp, timestampSchema } = await import('../index.ts');
  // Before any text passed too: isTimestamp remembers the last one, and nothing is not a time.
  expect(isTimestamp(undefined)).toBe(false);
  for (const good of ['2026-11-22T10:00:00Z', '2026-11-22T10:00:00.123456Z', '2024-02-29T23:59:59.9Z', '2000-02-29T00:00:00Z']) {
    expect(isTimestamp(good), good).toBe(true);
    expect(timestampSchema.safeParse(good).success).toBe(true);
  }
  for (const bad of [
    '2026-11-22T10:00Z',
    '2026-11-22T10:00:00+01:00',
    '2026-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2026-11-31T00:00:00Z',
    '2026-11-22 10:00:00Z',
    '2026-11-22T24:00:00Z',
    42,
    undefined,
    null,
  ]) {
    expect(isTimestamp(bad), String(bad)).toBe(false);
    expect(timestampSchema.safeParse(bad).success).toBe(false);
  }
  // The remembered text answers for an equal one, and only for it.
  expect(isTimestamp('2026-11-22T10:00:00Z')).toBe(true);
  expect(isTimestamp(['2026-11-22T10:00:00', 'Z'].join(''))).toBe(true);
  expect(isTimestamp('2026-11-22T10:00:00Z ')).toBe(false);
});

describe('signer rotation (ADR 0019)', () => {
  const key = (fill: string) => ({ keyId: sha256Digest(fill), algorithm: 'ed25519' as const, publicKey: Buffer.from(fill).toString('base64') });
  const rotation = {
    version: 'cairn.signer-rotation/v1',
    origin: 'cairn:test',
    from: key('old'),
    to: key('new'),
    fromCheckpoint: 12,
    rootHash: digest.slice(7),
    time,
  };

  test('a statement passes unchanged; one handing over to the same key, or with a field missing or extra, is refused', () => {
    expect(parsePayload(signerRotationSchema, rotation, 'it')).toEqual(rotation);
    expect(signerRotationSchema.safeParse({ ...rotation, to: rotation.from }).success).toBe(false);
    const { rootHash: _dropped, ...withoutRoot } = rotation;
    expect(signerRotationSchema.safeParse(withoutRoot).success).toBe(false);
    expect(signerRotationSchema.safeParse({ ...rotation, note: 'x' }).success).toBe(false);
  });

  test('signer.rotated is an audit action on a signer entity', () => {
    const rotated = { ...entry, action: 'signer.rotated', entity: { kind: 'signer', id: rotation.to.keyId } };
    const { runId: _run, runSeq: _runSeq, ...withoutRun } = rotated;
    expect(auditEntrySchema.safeParse(withoutRun).success).toBe(true);
    expect(auditActions).toContain('signer.rotated');
    expect(auditEntityKinds).toContain('signer');
  });
});
