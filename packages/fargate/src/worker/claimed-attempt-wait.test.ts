// A warm sandbox's worker waits for its attempt in the downwardAPI annotations file the kubelet
// rewrites (as it does: a new file swapped in whole), then runs it as the pod path would.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { readTaskEnvironment } from '../executor/task-environment.ts';
import { awaitClaimedAttempt, claimedAttemptAnnotations, parseDownwardAnnotations } from './claimed-attempt-wait.ts';
import { runTaskWorker } from './run-task-worker.ts';
import { workerExitCodes } from './worker-exit-code.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});
function annotationsFile(): { file: string; write: (text: string) => void } {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-claim-wait-'));
  folders.push(folder);
  const file = join(folder, 'annotations');
  let version = 0;
  // The kubelet's atomic writer: the new content in a fresh file, then swapped in by rename.
  const write = (text: string) => {
    const next = join(folder, `..${version++}`);
    writeFileSync(next, text);
    renameSync(next, file);
  };
  return { file, write };
}
const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
const template = {
  CAIRN_STORAGE_BUCKET: 'cairn-bucket',
  CAIRN_TRUSTED_KEYS: JSON.stringify([
    { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') },
  ]),
};
const digest = `sha256:${'c'.repeat(64)}`;

test("the kubelet's rendering of an annotation map is read back exactly, Go's %q escapes included", () => {
  // fieldpath.FormatMap: sorted `key=%q` lines, no trailing newline.
  const text = ['a.io/plain="run-1/build/1"', 'b.io/escaped="say \\"hi\\"\\\\ \\n\\t\\x00 é \\u2028 \\U0001f600"', 'c.io/empty=""'].join('\n');
  expect(parseDownwardAnnotations(text)).toEqual({
    'a.io/plain': 'run-1/build/1',
    'b.io/escaped': 'say "hi"\\ \n\t\u0000 é \u2028 😀',
    'c.io/empty': '',
  });
});

test('a warm worker waits past a missing file and one without its attempt, then takes the attempt from the annotations', async () => {
  const { file, write } = annotationsFile();
  let settled = false;
  const waiting = awaitClaimedAttempt({ ...template, CAIRN_ATTEMPT_ANNOTATIONS_FILE: file, CAIRN_ATTEMPT_WAIT_SECONDS: '30' }, { pollMs: 20 }).finally(
    () => (settled = true),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Warm, unclaimed: the template's own annotations only.
  write('agents.x-k8s.io/pod-template-hash="7d9f"');
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(settled).toBe(false);
  write(
    [
      'agents.x-k8s.io/pod-template-hash="7d9f"',
      `${claimedAttemptAnnotations.executionId}="run-1/build/1"`,
      `${claimedAttemptAnnotations.manifestDigest}="${digest}"`,
      `${claimedAttemptAnnotations.traceparent}="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`,
    ].join('\n'),
  );
  const env = await waiting;
  const environment = readTaskEnvironment(env);
  expect(environment).toMatchObject({
    executionId: 'run-1/build/1',
    manifestDigest: digest,
    storage: { bucket: 'cairn-bucket' },
    traceContext: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  });
  expect(environment.sealedSecrets).toBeUndefined();
});

test('the wait is bounded: unclaimed past CAIRN_ATTEMPT_WAIT_SECONDS the worker exits with the named variable, and runs nothing', async () => {
  const { file } = annotationsFile();
  const started = Date.now();
  const outcome = await runTaskWorker({ env: { ...template, CAIRN_ATTEMPT_ANNOTATIONS_FILE: file, CAIRN_ATTEMPT_WAIT_SECONDS: '1' } });
  expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  expect(outcome.exitCode).toBe(workerExitCodes.environmentInvalid);
  expect(outcome.record).toBeUndefined();
  expect(outcome.error).toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'CAIRN_ATTEMPT_WAIT_SECONDS',
    message: expect.stringContaining('no attempt claimed this sandbox within 1 s'),
  });
});

test('a stop while waiting ends the wait at once, saying no attempt ran', async () => {
  const { file } = annotationsFile();
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const outcome = await runTaskWorker({ env: { ...template, CAIRN_ATTEMPT_ANNOTATIONS_FILE: file }, signal: controller.signal });
  expect(outcome.error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', message: expect.stringContaining('stopped while waiting to be claimed') });
});

test('an attempt in the environment as well as in the annotations, a wait that is no number, and a bad digest in the annotations are refused by name', async () => {
  const { file, write } = annotationsFile();
  await expect(awaitClaimedAttempt({ ...template, CAIRN_ATTEMPT_ANNOTATIONS_FILE: file, CAIRN_EXECUTION_ID: 'run-1/build/1' })).rejects.toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'CAIRN_EXECUTION_ID',
  });
  await expect(awaitClaimedAttempt({ ...template, CAIRN_ATTEMPT_ANNOTATIONS_FILE: file, CAIRN_ATTEMPT_WAIT_SECONDS: '1h' })).rejects.toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'CAIRN_ATTEMPT_WAIT_SECONDS',
  });
  // What arrives is checked as the pod path's environment is.
  write(`${claimedAttemptAnnotations.executionId}="run-1/build/1"\n${claimedAttemptAnnotations.manifestDigest}="sha256:abc"`);
  const outcome = await runTaskWorker({ env: { ...template, CAIRN_ATTEMPT_ANNOTATIONS_FILE: file } });
  expect(outcome.exitCode).toBe(workerExitCodes.environmentInvalid);
  expect(outcome.error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'CAIRN_MANIFEST_DIGEST' });
});
