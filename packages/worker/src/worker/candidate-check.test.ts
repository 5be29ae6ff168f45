import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DispatchManifest, ManifestCandidate, PublicKeyRecord, ResultRecord } from '@cairn/core';
import { keyIdOf, signManifest } from '@cairn/audit';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { blobKey, canonicalJsonBytes, digestOfJson, manifestKey } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { describe, expect, test } from 'vitest';
import { createCommandRuntime } from '../runtime/command-runtime.ts';
import { temporaryDirectory } from '../testing/worker.test-support.ts';
import { scoreOf } from './candidate-check.ts';
import { createWorker } from './worker.ts';

/** One candidate attempt through a real worker and command runtime: its runtime, then its check. */
async function runCandidate(argv: string[], check: string[], fields: { readonly timeoutMs?: number; readonly secrets?: Record<string, string> } = {}) {
  const storage = createInMemoryStorageProvider();
  const signer = createInMemorySigner();
  const publicKey = await signer.publicKey();
  const key: PublicKeyRecord = { keyId: keyIdOf(publicKey), algorithm: signer.algorithm, publicKey: Buffer.from(publicKey).toString('base64') };
  const source = temporaryDirectory();
  mkdirSync(join(source, 'src'), { recursive: true });
  writeFileSync(join(source, 'src', 'value.txt'), 'broken\n');
  // Ignored by git: a file the agent leaves here is no part of its patch, so the check never sees it.
  writeFileSync(join(source, '.gitignore'), 'scratch/\n');
  const snapshot = await snapshotWorkspace(source);
  await storage.put(blobKey(snapshot.digest), snapshot.bytes);
  const candidate: ManifestCandidate = { index: 2, of: 3, round: 1, check: { argv: check, timeoutMs: fields.timeoutMs ?? 10_000 } };
  const manifest: DispatchManifest = {
    version: 'cairn.manifest/v1',
    runId: 'run-1',
    itemId: 'fix',
    attempt: 2,
    fencingToken: 2,
    executionId: 'run-1/fix/2',
    runtime: { kind: 'command', argv },
    workspace: snapshot.digest,
    inputs: {},
    apply: [],
    env: { MODE: 'strict' },
    secretNames: Object.keys(fields.secrets ?? {}),
    limits: { timeoutMs: 10_000, network: false, maxPatchBytes: 1_000_000, maxLogBytes: 100_000 },
    effect: 'read-impure',
    issuedAt: '2026-11-28T10:00:00.000Z',
    candidate,
  };
  const envelope = await signManifest(manifest, signer);
  const manifestDigest = digestOfJson(envelope);
  await storage.put(manifestKey(manifestDigest), canonicalJsonBytes(envelope));
  const worker = createWorker({
    storage,
    trustedKeys: [key],
    runtimes: { command: createCommandRuntime({ killGraceMs: 200 }) },
    workRoot: temporaryDirectory(),
  });
  const record: ResultRecord = await worker.run({ executionId: manifest.executionId, manifestDigest, ...(fields.secrets ? { secrets: fields.secrets } : {}) });
  const stdout = Buffer.from((await storage.get(blobKey(record.artifacts.stdout)))!).toString('utf8');
  return { record, stdout };
}

const fix = ['/bin/sh', '-c', 'echo fixed > src/value.txt; mkdir -p scratch; echo fixed > scratch/value.txt'];

describe('a candidate attempt', () => {
  test('has its patch checked in a fresh workspace: exit 0 passes and the last line is the score', async () => {
    const { record, stdout } = await runCandidate(fix, ['/bin/sh', '-c', 'grep -q fixed src/value.txt && test ! -e scratch && echo "MODE=$MODE"; echo 0.75']);
    expect(record.outcome).toBe('succeeded');
    expect(record.check).toEqual({ passed: true, exitCode: 0, score: 0.75, tail: 'MODE=strict\n0.75\n' });
    expect(stdout).toContain('[check] passed (exit 0, score 0.75)');
  });

  test('a failing check fails only the check: the attempt succeeded and its patch is kept', async () => {
    const { record } = await runCandidate(fix, ['/bin/sh', '-c', 'echo "1 test failed" >&2; exit 3']);
    expect(record.outcome).toBe('succeeded');
    expect(record.artifacts.patch).toBeDefined();
    expect(record.check).toEqual({ passed: false, exitCode: 3, score: null, tail: '1 test failed\n' });
  });

  test("the check gets the item's env but none of its secrets", async () => {
    const { record } = await runCandidate(fix, ['/bin/sh', '-c', 'test -z "$TOKEN" && test "$MODE" = strict'], { secrets: { TOKEN: 's3cret' } });
    expect(record.check?.passed).toBe(true);
  });

  test('a check past its timeout is stopped and fails, saying so', async () => {
    const { record } = await runCandidate(fix, ['/bin/sh', '-c', 'sleep 5'], { timeoutMs: 300 });
    expect(record.check).toMatchObject({ passed: false, exitCode: null });
    expect(record.check?.tail).toContain('no end within its timeout of 300 ms');
  });

  test('a candidate that changed nothing, or failed, is not checked', async () => {
    expect((await runCandidate(['/bin/sh', '-c', 'true'], ['true'])).record.check).toBeUndefined();
    const failed = await runCandidate(['/bin/sh', '-c', 'echo x > src/value.txt; exit 1'], ['true']);
    expect(failed.record.outcome).toBe('failed');
    expect(failed.record.check).toBeUndefined();
  });
});

test.each([
  ['ok\n42\n', 42],
  ['-1.5e2', -150],
  ['score: 3', null],
  ['3\n\n', 3],
  ['', null],
  ['Infinity', null],
])('scoreOf(%j) is %j', (stdout, score) => {
  expect(scoreOf(stdout)).toBe(score);
});
