// A server whose signer and cipher are KMS keys, rotated from its old key file: the backup keeps
// the KMS keys' settings (they are the keys) and the old key file, names the KMS key as the
// signing key, and the restored server starts on the same keys and its secrets still open.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../cli/init-server.ts';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { backupServer } from './backup-server.ts';
import { restoreBackup } from './restore-backup.ts';

const operator = { kind: 'user', id: 'operator', via: 'cli' } as const;
let endpoint: KmsTestEndpoint;
const directories: string[] = [];
const environment = { AWS_ACCESS_KEY_ID: process.env['AWS_ACCESS_KEY_ID'], AWS_SECRET_ACCESS_KEY: process.env['AWS_SECRET_ACCESS_KEY'] };
beforeAll(async () => {
  endpoint = await KmsTestEndpoint.start();
  // The SDK's credentials, as a server on KMS has them: from its environment, never its config.
  process.env['AWS_ACCESS_KEY_ID'] = 'AKIDCAIRNTEST';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'cairn-test-secret';
});
afterAll(async () => {
  await endpoint.stop();
  for (const [name, value] of Object.entries(environment)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

test('KMS signer and cipher, rotated from a key file, survive backup and restore: same keys, secrets still open', { timeout: 60_000 }, async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-backup-kms-'));
  directories.push(directory);
  const server = join(directory, 'server');
  await initServer(server);
  const signing = endpoint.createKey('ECC_NIST_P256');
  const encryption = endpoint.createKey('SYMMETRIC_DEFAULT');
  const file = join(server, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  // The key file cairn init wrote signed the log first; the KMS key takes over from it.
  const kms = { kind: 'kms', keyId: signing.keyId, endpoint: endpoint.url, region: 'us-east-1' };
  const cipher = { kind: 'kms', keyId: encryption.keyId, endpoint: endpoint.url, region: 'us-east-1' };
  const first = loadServerConfig({ directory: server, env: { CAIRN_SANDBOX: 'none' } });
  const original = await composeServer(first);
  original.engine.start();
  await original.engine.waitForRun(
    original.engine.submit({ version: 1, name: 'before', items: [{ id: 'one', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: operator }).runId,
  );
  await original.close();
  writeFileSync(file, stringifyYaml({ ...config, signer: kms, cipher, previousSigner: { kind: 'local', keyFile: './cairn-data/keys/signing.pem' } }));
  const loaded = loadServerConfig({ directory: server, env: { CAIRN_SANDBOX: 'none' } });
  const rotated = await composeServer(loaded);
  await rotated.engine.setSecret('DEMO_TOKEN', 'kept-by-kms', operator);
  await rotated.close();

  const archive = join(directory, 'server.cairn-backup');
  const backup = await backupServer(loaded, archive);
  expect(backup.signingKeyId).toBe(
    await (await import('@cairn/kms')).createKmsSigner({ keyId: signing.keyId, endpoint: endpoint.url, region: 'us-east-1' }).keyId(),
  );

  const target = join(directory, 'restored');
  await restoreBackup(archive, target);
  const restored = loadServerConfig({ directory: target, env: { CAIRN_SANDBOX: 'none' } });
  expect(restored.config.signer).toMatchObject(kms);
  expect(restored.config.cipher).toMatchObject(cipher);
  expect(restored.config.previousSigner).toMatchObject({ kind: 'local', keyFile: './cairn-data/keys/previous-signing.pem' });
  const copy = await composeServer(restored);
  try {
    expect(copy.signingKey.keyId).toBe(backup.signingKeyId);
    // The secret opens through the restored KMS cipher: an item that needs it sees its value.
    copy.engine.start();
    const { runId } = copy.engine.submit(
      {
        version: 1,
        name: 'after',
        items: [{ id: 'check', secrets: ['DEMO_TOKEN'], runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'test "$DEMO_TOKEN" = kept-by-kms'] } }],
      },
      { actor: operator },
    );
    expect((await copy.engine.waitForRun(runId)).state).toBe('succeeded');
  } finally {
    await copy.close();
  }
});
