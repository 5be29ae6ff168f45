// The cairn-worker entrypoint as the image runs it: the bundled file, with only its environment.
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { runTaskWorker } from './run-task-worker.ts';
import { workerExitCode, workerExitCodes } from './worker-exit-code.ts';

const bundle = fileURLToPath(new URL('../../dist/cairn-worker.js', import.meta.url));

test('the bundled entrypoint runs alone (no node_modules) and says in one stderr line, with the code, what is wrong', () => {
  // Copied where no node_modules can be found, as in the image (/opt/cairn/cairn-worker.js).
  const alone = mkdtempSync(join(tmpdir(), 'cairn-worker-alone-'));
  copyFileSync(bundle, join(alone, 'cairn-worker.js'));
  const result = spawnSync(process.execPath, [join(alone, 'cairn-worker.js')], { env: { CAIRN_EXECUTION_ID: 'run-1/build/1' }, encoding: 'utf8', cwd: '/' });
  rmSync(alone, { recursive: true, force: true });
  expect(result.status).toBe(workerExitCodes.environmentInvalid);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(/^cairn-worker: CAIRN_CONFIG_INVALID: .*CAIRN_MANIFEST_DIGEST is not set/);
});

test('a task environment with sealed secrets and no key to open them is refused, naming the variable', async () => {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  const outcome = await runTaskWorker({
    env: {
      CAIRN_EXECUTION_ID: 'run-1/build/1',
      CAIRN_MANIFEST_DIGEST: `sha256:${'c'.repeat(64)}`,
      CAIRN_STORAGE_BUCKET: 'cairn-bucket',
      CAIRN_SEALED_SECRETS: 'task-secrets/run-1/build/1.json',
      CAIRN_TRUSTED_KEYS: JSON.stringify([
        { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') },
      ]),
    },
  });
  expect(outcome.exitCode).toBe(workerExitCodes.environmentInvalid);
  expect(outcome.error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'CAIRN_CIPHER_KMS_KEY_ID' });
});

test('a task environment with a gateway URL and nothing sealed to carry its credential, or a URL that is none, is refused, naming the variable', async () => {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  const env = {
    CAIRN_EXECUTION_ID: 'run-1/agent/1',
    CAIRN_MANIFEST_DIGEST: `sha256:${'c'.repeat(64)}`,
    CAIRN_STORAGE_BUCKET: 'cairn-bucket',
    CAIRN_TRUSTED_KEYS: JSON.stringify([
      { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') },
    ]),
  };
  const unsealed = await runTaskWorker({ env: { ...env, CAIRN_MODEL_GATEWAY_URL: 'http://10.0.1.5:7411' } });
  expect(unsealed.exitCode).toBe(workerExitCodes.environmentInvalid);
  expect(unsealed.error).toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'CAIRN_SEALED_SECRETS',
    message: expect.stringContaining('credential travels sealed'),
  });
  const notUrl = await runTaskWorker({
    env: { ...env, CAIRN_MODEL_GATEWAY_URL: '10.0.1.5:7411', CAIRN_SEALED_SECRETS: 'task-secrets/x.json', CAIRN_CIPHER_KMS_KEY_ID: 'k' },
  });
  expect(notUrl.error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'CAIRN_MODEL_GATEWAY_URL' });
  // The trace context is checked as the task envelope checks it: a version 00 traceparent.
  const badTrace = await runTaskWorker({ env: { ...env, CAIRN_TRACEPARENT: '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
  expect(badTrace.exitCode).toBe(workerExitCodes.environmentInvalid);
  expect(badTrace.error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'CAIRN_TRACEPARENT' });
});

test('exit codes follow the record: 0, the runtime’s own code on failure, 124 timed out, 143 cancelled', () => {
  expect(workerExitCode({ outcome: 'succeeded', exitCode: 0 })).toBe(0);
  expect(workerExitCode({ outcome: 'failed', exitCode: 3 })).toBe(3);
  expect(workerExitCode({ outcome: 'failed', exitCode: null })).toBe(1);
  expect(workerExitCode({ outcome: 'timed-out', exitCode: null })).toBe(124);
  expect(workerExitCode({ outcome: 'cancelled', exitCode: null })).toBe(143);
});
