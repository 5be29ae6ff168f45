// A server composed over a KMS signer and a KMS cipher (the KMS test endpoint on loopback, real
// P-256 signing and AES-GCM data keys): the config chooses them by kind, a key KMS refuses stops
// the server before it starts, a secret is encrypted by KMS and reaches its item, and the run's
// evidence verifies with the KMS key's public half trusted, and only with it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { serializeEvidenceBundle, storedManifestSignatures, verifyBundle } from '@cairn/audit';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { serverSigningKey } from '../capabilities/evidence/server-trust.ts';
import { composeServer } from './compose-server.ts';
import type { ServerComposition } from './server-composition.ts';

let endpoint: KmsTestEndpoint;
const directories: string[] = [];
const compositions: ServerComposition[] = [];
beforeAll(async () => {
  endpoint = await KmsTestEndpoint.start();
  // The SDK's default chain finds these, as a server finds its role's.
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDCAIRNTEST');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'cairn-test-secret');
});
afterEach(async () => {
  for (const composition of compositions.splice(0)) await composition.close();
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await endpoint.stop();
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

/** `cairn init` in a fresh folder, its signer and cipher switched to the given KMS keys. */
async function serverOnKms(signingKey: string, cipherKey: string): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-kms-'));
  directories.push(directory);
  await initServer(directory);
  const file = join(directory, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const location = { endpoint: endpoint.url, region: 'us-east-1' };
  writeFileSync(
    file,
    stringifyYaml({ ...config, signer: { kind: 'kms', keyId: signingKey, ...location }, cipher: { kind: 'kms', keyId: cipherKey, ...location } }),
  );
  return directory;
}

test(
  'a server on a KMS signer and cipher runs an item with a KMS-encrypted secret; its bundle verifies with the KMS public key trusted, and not with another',
  { timeout: 60_000 },
  async () => {
    const signing = endpoint.createKey('ECC_NIST_P256');
    const encryption = endpoint.createKey('SYMMETRIC_DEFAULT');
    const directory = await serverOnKms(endpoint.setAlias('alias/cairn-checkpoints', signing.keyId), encryption.keyId);
    const loaded = loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } });
    expect(loaded.config.signer).toMatchObject({ kind: 'kms', keyId: 'alias/cairn-checkpoints' });
    const composition = await composeServer(loaded);
    compositions.push(composition);
    expect(composition.signer.provider).toBe('aws-kms');
    expect(composition.signingKey.algorithm).toBe('ecdsa-p256-sha256');
    // What `cairn verify` and `cairn key id` in this folder trust: the KMS key, asked of KMS, not signing.pem.
    expect(await serverSigningKey(loaded)).toEqual(composition.signingKey);

    const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;
    await composition.engine.setSecret('API_KEY', 'kms-protected-value', actor);
    const decrypts = endpoint.requests.filter((request) => request.operation === 'Decrypt').length;
    composition.engine.start();
    const { runId } = composition.engine.submit(
      {
        version: 1,
        name: 'on-kms',
        items: [{ id: 'use-secret', secrets: ['API_KEY'], runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'test "$API_KEY" = kms-protected-value'] } }],
      },
      { actor },
    );
    const run = await composition.engine.waitForRun(runId);
    expect(run.state).toBe('succeeded');
    // The secret reached the item through KMS (a Decrypt of its data key), and never went to KMS itself.
    expect(endpoint.requests.filter((request) => request.operation === 'Decrypt').length).toBeGreaterThan(decrypts);
    expect(JSON.stringify(endpoint.requests)).not.toContain('kms-protected-value');

    const bytes = serializeEvidenceBundle(await composition.engine.exportBundle(runId));
    const trusted = await verifyBundle(bytes, { trustedKeys: [composition.signingKey] });
    expect(trusted).toMatchObject({ valid: true, verdict: 'verified' });
    expect(trusted.checks.find((check) => check.name === 'checkpoint-signature')?.detail).toContain(composition.signingKey.keyId);
    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
    const otherKey = {
      keyId: `sha256:${createHash('sha256').update(other).digest('hex')}` as const,
      algorithm: 'ed25519' as const,
      publicKey: other.toString('base64'),
    };
    expect(await verifyBundle(bytes, { trustedKeys: [otherKey] })).toMatchObject({ valid: false });
  },
);

test(
  'the KMS composition signs manifests with a delegated key: a 12-item run costs one KMS Sign for the delegation, the rest are checkpoints and receipts',
  { timeout: 60_000 },
  async () => {
    const signing = endpoint.createKey('ECC_NIST_P256');
    const encryption = endpoint.createKey('SYMMETRIC_DEFAULT');
    const directory = await serverOnKms(signing.keyId, encryption.keyId);
    const composition = await composeServer(loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } }));
    compositions.push(composition);
    const signsBefore = endpoint.count('Sign');
    composition.engine.start();
    const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;
    const items = Array.from({ length: 12 }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['/bin/true'] } }));
    const { runId } = composition.engine.submit({ version: 1, name: 'fan-out-on-kms', items }, { actor });
    expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
    const bundle = await composition.engine.exportBundle(runId);
    await composition.engine.stop();
    const entries = [...composition.engine.audit.entries()];
    const delegated = entries.filter((entry) => entry.action === 'key.delegated');
    expect(delegated).toHaveLength(1);
    expect(delegated[0]!.data).toMatchObject({ purpose: 'dispatch-manifest', delegatedBy: composition.signingKey.keyId });
    const checkpoints = entries.filter((entry) => entry.action === 'checkpoint.issued').length;
    const receipts = entries.filter((entry) => entry.action === 'checkpoint.anchored' && entry.outcome === 'success').length * composition.anchors.length;
    expect(endpoint.count('Sign') - signsBefore).toBe(1 + checkpoints + receipts);
    expect(bundle.manifests).toHaveLength(12);
    expect(new Set(bundle.manifests.map((manifest) => storedManifestSignatures(manifest.envelope)[0]!.keyid))).toEqual(new Set([delegated[0]!.entity.id]));
    expect(bundle.delegations).toHaveLength(1);
    expect(await verifyBundle(serializeEvidenceBundle(bundle), { trustedKeys: [composition.signingKey] })).toMatchObject({ valid: true, verdict: 'verified' });
  },
);

test('a KMS key the server cannot use stops it before it starts, naming the option, the key and the fix', { timeout: 30_000 }, async () => {
  const signing = endpoint.createKey('ECC_NIST_P256');
  const encryption = endpoint.createKey('SYMMETRIC_DEFAULT');
  endpoint.deny(signing.keyId, 'Sign');
  const directory = await serverOnKms(signing.keyId, encryption.keyId);
  const refused = composeServer(loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } }));
  await expect(refused).rejects.toMatchObject({ code: 'CAIRN_CONFIG_INVALID', path: 'config.signer' });
  await expect(refused).rejects.toThrow(/kms:Sign/);

  endpoint.setEnabled(encryption.keyId, false);
  const usable = endpoint.createKey('ECC_NIST_P256');
  const disabled = await serverOnKms(usable.keyId, encryption.keyId);
  await expect(composeServer(loadServerConfig({ directory: disabled, env: { CAIRN_SANDBOX: 'none' } }))).rejects.toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'config.cipher',
    message: expect.stringMatching(/disabled/i),
  });
});

test('KMS options are checked like the others: credentials in the config are refused, a missing key id named', () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-kms-config-'));
  directories.push(directory);
  const file = join(directory, 'cairn.config.yaml');
  writeFileSync(file, stringifyYaml({ dataDirectory: './data', signer: { kind: 'kms', keyId: 'alias/x', secretAccessKey: 'no' }, cipher: { kind: 'kms' } }));
  expect(() => loadServerConfig({ file, env: {} })).toThrow(
    expect.objectContaining({
      code: 'CAIRN_CONFIG_INVALID',
      issues: expect.arrayContaining([
        expect.objectContaining({ path: 'config.signer.secretAccessKey', message: expect.stringContaining("AWS SDK's default chain") }),
        expect.objectContaining({ path: 'config.cipher.keyId' }),
      ]),
    }),
  );
});

test('cairn doctor on KMS keys: each permission and the key type is a finding of its own, a refused one with its fix', { timeout: 30_000 }, async () => {
  const { diagnoseServer } = await import('../cli/diagnose-server.ts');
  const signing = endpoint.createKey('ECC_NIST_P256');
  const encryption = endpoint.createKey('SYMMETRIC_DEFAULT');
  endpoint.deny(encryption.keyId, 'GenerateDataKey');
  const directory = await serverOnKms(signing.keyId, encryption.keyId);
  const findings = await diagnoseServer(loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } }));
  const byCheck = new Map(findings.map((finding) => [finding.check, finding]));
  expect(byCheck.get('signer kms:Sign')).toMatchObject({ ok: true });
  expect(byCheck.get('signer kms:GetPublicKey')).toMatchObject({ ok: true });
  expect(byCheck.get('cipher kms:GenerateDataKey')).toMatchObject({ ok: false, fix: expect.stringContaining('kms:GenerateDataKey') });
  // What depends on the refused call is not claimed: the Decrypt check is reported as not checked, or failed, never passed.
  expect(byCheck.get('cipher kms:Decrypt')?.detail ?? 'not checked').toMatch(/not checked|fail|refus|denied/i);
});
