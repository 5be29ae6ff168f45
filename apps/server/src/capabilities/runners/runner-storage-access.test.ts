import type { Digest } from '@cairn/core';
import { blobKey, delegationKey, liveLogSegmentKey, liveLogStateKey, manifestKey, resultKey } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { decideRunnerStorageAccess, type RunnerHeldAttempts, type RunnerStorageOperation } from './runner-storage-access.ts';

const digest = (character: string): Digest => `sha256:${character.repeat(64)}`;

// This runner holds run-1/build/1; another runner holds run-1/test/1; run-1/lint/1 was this
// runner's and its lease lapsed.
const held = 'run-1/build/1';
const othersAttempt = 'run-1/test/1';
const lapsedAttempt = 'run-1/lint/1';
const manifests: Record<string, Digest> = { [held]: digest('a'), [othersAttempt]: digest('b'), [lapsedAttempt]: digest('c') };
const workspace = digest('1');
const input = digest('2');
const written = digest('3');
const othersWorkspace = digest('4');
const signer = digest('5');
const othersSigner = digest('6');

const attempts: RunnerHeldAttempts = {
  held: () => [held],
  holds: (executionId) => executionId === held,
  lapsed: (executionId) => executionId === lapsedAttempt,
  manifestDigestOf: (executionId) => manifests[executionId],
  blobsNamedFor: (executionId) => (executionId === held ? new Set([workspace, input, written]) : undefined),
  signersFor: (executionId) => (executionId === held ? new Set([signer]) : undefined),
};
const holdingNothing: RunnerHeldAttempts = { ...attempts, held: () => [], holds: () => false };

function decide(key: string, operation: RunnerStorageOperation, view = attempts) {
  return decideRunnerStorageAccess({ key, operation }, view);
}

describe('decideRunnerStorageAccess', () => {
  test.each([
    ['the manifest of a held attempt', manifestKey(manifests[held]!), 'read', 'manifest-read'],
    ['the workspace its manifest names', blobKey(workspace), 'read', 'blob-read'],
    ['an input its manifest names', blobKey(input), 'read', 'blob-read'],
    ['a blob it wrote for the attempt', blobKey(written), 'read', 'blob-read'],
    ['any blob, written while it holds an attempt', blobKey(othersWorkspace), 'write', 'blob-write'],
    ['the delegation of the key that signed its manifest', delegationKey(signer), 'read', 'delegation-read'],
    ['its result record, read', resultKey(held), 'read', 'result-read'],
    ['its result record, written', resultKey(held), 'write', 'result-write'],
    ['its live log state, written', liveLogStateKey(held), 'write', 'live-log'],
    ['its live log state, read', liveLogStateKey(held), 'read', 'live-log'],
    ['its live log state, deleted', liveLogStateKey(held), 'delete', 'live-log'],
    ['a stdout segment, written', liveLogSegmentKey(held, 'stdout', 0), 'write', 'live-log'],
    ['a stderr segment, deleted', liveLogSegmentKey(held, 'stderr', 12), 'delete', 'live-log'],
    ['a list of its live log folder', `live-logs/${held}/`, 'list', 'live-log-list'],
    ['a list of one of its streams', `live-logs/${held}/stdout/`, 'list', 'live-log-list'],
  ] as const)('allows %s', (_title, key, operation, rule) => {
    expect(decide(key, operation)).toMatchObject({ allowed: true, rule });
  });

  test.each([
    ["another runner's manifest", manifestKey(manifests[othersAttempt]!), 'read', /manifest of no attempt this runner holds/],
    ["a lapsed attempt's manifest", manifestKey(manifests[lapsedAttempt]!), 'read', /manifest of no attempt/],
    ['a manifest written', manifestKey(manifests[held]!), 'write', /written by the engine alone/],
    ['a manifest deleted', manifestKey(manifests[held]!), 'delete', /written by the engine alone/],
    ['a blob no held manifest names', blobKey(othersWorkspace), 'read', /named by no manifest/],
    ['a blob deleted', blobKey(workspace), 'delete', /a runner deletes none/],
    ["the delegation of another manifest's signer", delegationKey(othersSigner), 'read', /signed by sha256:6{64}/],
    ['a delegation written', delegationKey(signer), 'write', /written by the engine alone/],
    ["another runner's result record, read", resultKey(othersAttempt), 'read', /holds no lease on run-1\/test\/1/],
    ["another runner's result record, written", resultKey(othersAttempt), 'write', /holds no lease on run-1\/test\/1/],
    ['its own result record, deleted', resultKey(held), 'delete', /written once and kept/],
    ["another runner's live log segment", liveLogSegmentKey(othersAttempt, 'stdout', 0), 'write', /holds no lease/],
    ["another runner's live log state, read", liveLogStateKey(othersAttempt), 'read', /holds no lease/],
    ['a run spec', 'runs/run-1/spec.json', 'read', /only the keys of the attempts it holds/],
    ['the inbox', 'inbox/spec.yaml', 'write', /only the keys of the attempts it holds/],
    ['a live log key of no known shape', `live-logs/${held}/other`, 'write', /only the keys of the attempts it holds/],
    ['a segment index of 5 digits', `live-logs/${held}/stdout/00001`, 'write', /only the keys/],
    ['a blob key of upper-case hex', `blobs/${'A'.repeat(64)}`, 'read', /only the keys/],
    ['a blob key with a suffix', `${blobKey(workspace)}.json`, 'read', /only the keys/],
    ['a list of all blobs', 'blobs/', 'list', /lists only under the live log folder/],
    ['a list of every live log', 'live-logs/', 'list', /lists only under/],
    ["a list of another runner's live log", `live-logs/${othersAttempt}/`, 'list', /lists only under/],
    ['a list of a held id without its slash', `live-logs/${held}`, 'list', /lists only under/],
  ] as const)('refuses %s', (_title, key, operation, reason) => {
    const decision = decide(key, operation);
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) {
      expect(decision.reason).toMatch(reason);
      expect(decision.late).toBe(false);
    }
  });

  test.each([
    ['a dot-dot segment into another attempt', `results/${held}/../../test/1.json`],
    ['a dot-dot segment out of the live log folder', `live-logs/${held}/../../../blobs/${'4'.repeat(64)}`],
    ['a dot segment', `live-logs/${held}/./state.json`],
    ['an empty segment', `live-logs/${held}//state.json`],
    ['a leading slash', `/results/${held}.json`],
    ['a backslash', `results\\${held}.json`],
    ['a control character', `results/${held}\n.json`],
    ['an empty key', ''],
  ])('refuses %s before any rule', (_title, key) => {
    for (const operation of ['read', 'write', 'delete'] as const) {
      const decision = decide(key, operation);
      expect(decision, `${operation} ${JSON.stringify(key)}`).toMatchObject({ allowed: false, reason: expect.stringMatching(/is not a valid storage key/) });
    }
  });

  test('a percent-encoded slash is a character of the key, never a separator', () => {
    // results/run-1%2Fbuild%2F1.json names the execution "run-1%2Fbuild%2F1", which nobody holds.
    const encoded = `results/${held.replaceAll('/', '%2F')}.json`;
    expect(decide(encoded, 'write')).toMatchObject({ allowed: false, reason: expect.stringContaining('run-1%2Fbuild%2F1') });
    expect(decide(`live-logs/${held.replaceAll('/', '%2F')}/state.json`, 'read')).toMatchObject({ allowed: false });
    expect(decide(`blobs%2F${'1'.repeat(64)}`, 'read')).toMatchObject({ allowed: false });
  });

  test("a key of an execution whose id extends a held one's is not the held attempt's", () => {
    // Execution ids hold slashes: live-logs/run-1/build/1/x/state.json is the state of run-1/build/1/x.
    expect(decide(`live-logs/${held}/x/state.json`, 'write')).toMatchObject({ allowed: false, executionId: `${held}/x` });
    expect(decide(`results/${held}/x.json`, 'write')).toMatchObject({ allowed: false, executionId: `${held}/x` });
  });

  test('a write or delete for a lapsed lease is late; a read of it is refused but not late', () => {
    for (const [key, operation] of [
      [resultKey(lapsedAttempt), 'write'],
      [liveLogStateKey(lapsedAttempt), 'write'],
      [liveLogSegmentKey(lapsedAttempt, 'stdout', 3), 'delete'],
    ] as const) {
      expect(decide(key, operation), `${operation} ${key}`).toEqual({
        allowed: false,
        late: true,
        executionId: lapsedAttempt,
        reason: expect.stringMatching(/lease of run-1\/lint\/1 lapsed/),
      });
    }
    expect(decide(resultKey(lapsedAttempt), 'read')).toMatchObject({ allowed: false, late: false, executionId: lapsedAttempt });
    // Another runner's attempt is refused, never late: this runner never held it.
    expect(decide(resultKey(othersAttempt), 'write')).toMatchObject({ allowed: false, late: false });
  });

  test('a runner that holds nothing may write no blob and read nothing', () => {
    expect(decide(blobKey(workspace), 'write', holdingNothing)).toMatchObject({ allowed: false, reason: expect.stringMatching(/holds no attempt/) });
    expect(decide(blobKey(workspace), 'read', holdingNothing)).toMatchObject({ allowed: false });
    expect(decide(manifestKey(manifests[held]!), 'read', holdingNothing)).toMatchObject({ allowed: false });
    expect(decide(delegationKey(signer), 'read', holdingNothing)).toMatchObject({ allowed: false });
  });

  test('a held attempt whose manifest is not known yet names no blob', () => {
    const unknownManifest: RunnerHeldAttempts = { ...attempts, blobsNamedFor: () => undefined, signersFor: () => undefined };
    expect(decide(blobKey(workspace), 'read', unknownManifest)).toMatchObject({ allowed: false });
    expect(decide(delegationKey(signer), 'read', unknownManifest)).toMatchObject({ allowed: false });
  });
});
