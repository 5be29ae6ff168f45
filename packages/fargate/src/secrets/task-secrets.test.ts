// How secrets reach a task (ADR 0021): sealed with the cipher into storage, never in RunTask's
// request or the container's environment, opened inside the task, deleted once opened.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalCipher } from '@cairn/local';
import { resultKey } from '@cairn/protocol';
import { afterAll, expect, test } from 'vitest';
import { fargateWorldForFile } from '../testing/fargate.test-support.ts';
import { runTaskWorker } from '../worker/run-task-worker.ts';
import { workerExitCodes } from '../worker/worker-exit-code.ts';
import { openSealedSecrets, openSealedTaskValues, sealedSecretsKey, sealSecrets } from './sealed-secrets.ts';

const world = fargateWorldForFile();
const keys = mkdtempSync(join(tmpdir(), 'cairn-fargate-cipher-'));
afterAll(() => rmSync(keys, { recursive: true, force: true }));

test('no secret in the RunTask request or the container environment; the runtime inside still gets it, and the sealed copy is deleted', async () => {
  const secret = 'npm_7c1d9e-fargate-secret-marker';
  const executionId = `secrets-${Date.now()}/publish/1`;
  const executor = world().executor();
  // The command succeeds only when it sees the secret's exact value.
  const task = world().task(executionId, { kind: 'command', argv: ['/bin/sh', '-c', `test "$NPM_TOKEN" = '${secret}'`] }, { secrets: { NPM_TOKEN: secret } });
  const handle = await executor.start(task);
  const sealed = await world().storage.get(sealedSecretsKey(executionId));
  let status = await executor.inspect(handle);
  for (let wait = 0; wait < 600 && status.state !== 'exited'; wait++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    status = await executor.inspect(handle);
  }
  expect(status).toMatchObject({ state: 'exited', outcome: 'succeeded', exitCode: 0 });

  const runTask = world().ecs.requests.filter((request) => request.operation === 'RunTask' && request.raw.includes(executionId));
  expect(runTask).toHaveLength(1);
  for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url'), Buffer.from(secret).toString('hex')]) {
    expect(runTask[0]!.raw).not.toContain(form);
    expect(
      JSON.stringify(
        world()
          .ecs.tasks()
          .find((candidate) => candidate.taskArn === handle['taskArn'])!.environment,
      ),
    ).not.toContain(form);
  }
  expect(runTask[0]!.raw).toContain(sealedSecretsKey(executionId));
  // What was stored is a cipher envelope, not the secret.
  expect(sealed).not.toBeNull();
  expect(new TextDecoder().decode(sealed!)).not.toContain(secret);
  expect(JSON.parse(new TextDecoder().decode(sealed!))).toMatchObject({ version: 1, algorithm: 'aes-256-gcm+kms' });
  // The task opened it through KMS with the execution's context, then deleted it.
  expect(world().kms.requests.some((request) => request.operation === 'Decrypt' && JSON.stringify(request.body).includes(executionId))).toBe(true);
  expect(await world().storage.get(sealedSecretsKey(executionId))).toBeNull();
  expect(await world().storage.get(resultKey(executionId))).not.toBeNull();
});

test('sealed secrets open only for their execution and manifest, once stored; a missing copy says why', async () => {
  const cipher = createLocalCipher({ keyFile: join(keys, 'cipher.key'), create: true });
  const storage = world().storage;
  const task = { executionId: `seal-${Date.now()}/item/1`, manifestDigest: `sha256:${'a'.repeat(64)}`, secrets: { TOKEN: 'value-1', OTHER: 'value-2' } };
  const key = await sealSecrets(storage, cipher, task);
  expect(key).toBe(sealedSecretsKey(task.executionId));
  expect(await openSealedSecrets(storage, cipher, { ...task, key })).toEqual(task.secrets);
  await expect(openSealedSecrets(storage, cipher, { ...task, executionId: `${task.executionId}x`, key })).rejects.toMatchObject({
    code: 'CAIRN_SECRET_UNAVAILABLE',
    message: expect.stringContaining('sealed for another task'),
  });
  await expect(openSealedSecrets(storage, cipher, { ...task, manifestDigest: `sha256:${'b'.repeat(64)}`, key })).rejects.toMatchObject({
    code: 'CAIRN_SECRET_UNAVAILABLE',
  });
  await storage.delete(key);
  await expect(openSealedSecrets(storage, cipher, { ...task, key })).rejects.toMatchObject({
    code: 'CAIRN_SECRET_UNAVAILABLE',
    message: expect.stringContaining('deleted once opened'),
  });
  // An agent attempt's gateway credential is sealed beside them, and opened apart: it is no secret a runtime gets.
  await sealSecrets(storage, cipher, { ...task, gatewayCredential: 'credential-1' });
  expect(await openSealedTaskValues(storage, cipher, { ...task, key })).toEqual({ secrets: task.secrets, gatewayCredential: 'credential-1' });
  expect(await openSealedSecrets(storage, cipher, { ...task, key })).toEqual(task.secrets);
  await storage.delete(key);
});

test('a task told of a gateway whose sealed values hold no credential runs nothing and exits 77, saying so', async () => {
  const cipher = createLocalCipher({ keyFile: join(keys, 'cipher.key'), create: true });
  const task = { executionId: `no-credential-${Date.now()}/agent/1`, manifestDigest: `sha256:${'d'.repeat(64)}`, secrets: { TOKEN: 'value-1' } };
  const key = await sealSecrets(world().storage, cipher, task);
  const outcome = await runTaskWorker({
    env: {
      CAIRN_EXECUTION_ID: task.executionId,
      CAIRN_MANIFEST_DIGEST: task.manifestDigest,
      CAIRN_STORAGE_BUCKET: world().bucket,
      CAIRN_SEALED_SECRETS: key,
      CAIRN_CIPHER_KMS_KEY_ID: 'the-local-cipher',
      CAIRN_TRUSTED_KEYS: JSON.stringify([world().key]),
      CAIRN_MODEL_GATEWAY_URL: 'http://10.0.1.5:7411',
    },
    storage: world().storage,
    cipher,
  });
  expect(outcome.exitCode).toBe(workerExitCodes.secretsUnavailable);
  expect(outcome.error).toMatchObject({ code: 'CAIRN_SECRET_UNAVAILABLE', message: expect.stringContaining('hold no gateway credential') });
  expect(await world().storage.get(resultKey(task.executionId))).toBeNull();
});

test('a task with secrets and no cipher configured is refused before anything starts', async () => {
  const executor = world().executor({ cipher: undefined as never, taskCipher: undefined as never });
  const executionId = `no-cipher-${Date.now()}/item/1`;
  await expect(executor.start(world().task(executionId, { kind: 'command', argv: ['/bin/true'] }, { secrets: { TOKEN: 'x' } }))).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_START_FAILED',
    message: expect.stringContaining('fargate.cipher'),
  });
  expect(world().ecs.requests.some((request) => request.operation === 'RunTask' && request.raw.includes(executionId))).toBe(false);
});

test('a KMS that refuses to seal makes the start wait (CAIRN_EXECUTOR_UNAVAILABLE), and no task is started', async () => {
  const { keyId } = world().kms.createKey('SYMMETRIC_DEFAULT');
  world().kms.setEnabled(keyId, false);
  const { createKmsCipher } = await import('@cairn/kms');
  const executor = world().executor({ cipher: createKmsCipher({ keyId, client: world().kms.client(), maxAttempts: 1 }), taskCipher: { keyId } });
  const executionId = `kms-down-${Date.now()}/item/1`;
  await expect(executor.start(world().task(executionId, { kind: 'command', argv: ['/bin/true'] }, { secrets: { TOKEN: 'x' } }))).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_UNAVAILABLE',
    message: expect.stringContaining('CAIRN_CIPHER_UNAVAILABLE'),
  });
  expect(world().ecs.requests.some((request) => request.operation === 'RunTask' && request.raw.includes(executionId))).toBe(false);
});
