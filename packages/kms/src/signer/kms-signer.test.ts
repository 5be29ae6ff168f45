import { createHash, createPublicKey, verify } from 'node:crypto';
import { GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { describeSigner } from '@cairn/conformance';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { causeName, kmsEndpointForFile, rejection, thrownBy } from '../testing/kms.test-support.ts';
import { createKmsSigner, type KmsSignerSettings } from './kms-signer.ts';

const endpoint = kmsEndpointForFile();
afterEach(() => {
  vi.unstubAllEnvs();
});
const utf8 = (text: string) => new TextEncoder().encode(text);

/** A fresh P-256 signing key and a signer for it, the client built from the settings. */
function signerForNewKey(settings: Partial<KmsSignerSettings> = {}) {
  const { keyId, arn } = endpoint().createKey('ECC_NIST_P256');
  const signer = createKmsSigner({ keyId, endpoint: endpoint().url, region: 'us-east-1', ...settings });
  return { signer, keyId, arn };
}

// The oracle fetches the public key with a raw SDK client, not through the signer.
const oracle = (signer: { kmsKeyId: string }) => ({
  publicKey: async () =>
    new Uint8Array(
      (
        await endpoint()
          .client()
          .send(new GetPublicKeyCommand({ KeyId: signer.kmsKeyId }))
      ).PublicKey!,
    ),
});

describeSigner({ name: 'AWS KMS P-256 key by key id, client from the settings', create: () => signerForNewKey().signer, oracle });

describeSigner({
  name: 'AWS KMS P-256 key by alias, injected client',
  create: () => {
    const { keyId } = endpoint().createKey('ECC_NIST_P256');
    const alias = endpoint().setAlias(`alias/cairn-${keyId.slice(0, 8)}`, keyId);
    return createKmsSigner({ keyId: alias, client: endpoint().client() });
  },
  oracle,
});

describe('KmsSigner', () => {
  test('hashes locally and sends KMS only the SHA-256 digest (MessageType DIGEST, ECDSA_SHA_256), so a 1 MiB message is one small Sign', async () => {
    const { signer } = signerForNewKey();
    const message = new Uint8Array(1024 * 1024).fill(7);
    const before = endpoint().requests.length;
    const signature = await signer.sign(message);
    const signs = endpoint()
      .requests.slice(before)
      .filter((request) => request.operation === 'Sign');
    expect(signs).toHaveLength(1);
    expect(signs[0]!.body).toMatchObject({ MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' });
    expect(Buffer.from(signs[0]!.body['Message'] as string, 'base64').equals(createHash('sha256').update(message).digest())).toBe(true);
    const spki = { key: Buffer.from(await signer.publicKey()), format: 'der', type: 'spki', dsaEncoding: 'der' } as const;
    expect(verify('sha256', message, spki, signature)).toBe(true);
  });

  test('fetches the public key once for any number of keyId, publicKey and sign calls; a failed fetch is not remembered', async () => {
    const { signer, keyId } = signerForNewKey({ maxAttempts: 1 });
    const before = endpoint().count('GetPublicKey');
    endpoint().inject('GetPublicKey', 'KMSInternalException');
    expect((await rejection(signer.keyId())).code).toBe('CAIRN_SIGNER_FAILED');
    await Promise.all([signer.keyId(), signer.publicKey(), signer.sign(utf8('a')), signer.sign(utf8('b')), signer.keyId()]);
    expect(endpoint().count('GetPublicKey') - before, 'one failed fetch, then one that is kept').toBe(2);
    const der = createPublicKey({ key: Buffer.from(await signer.publicKey()), format: 'der', type: 'spki' }).export({ format: 'der', type: 'spki' });
    expect(await signer.keyId()).toBe(`sha256:${createHash('sha256').update(der).digest('hex')}`);
    expect(signer.kmsKeyId).toBe(keyId);
  });

  test('throttling, KMS 5xx and a reset connection are retried with backoff; the SDK itself does not retry', async () => {
    const { signer } = signerForNewKey({ maxAttempts: 5 });
    await signer.keyId();
    const before = endpoint().count('Sign');
    endpoint().inject('Sign', 'ThrottlingException', 2);
    endpoint().inject('Sign', 'KMSInternalException', 1);
    endpoint().inject('Sign', 'reset', 1);
    const message = utf8('checkpoint under load');
    const signature = await signer.sign(message);
    expect(endpoint().count('Sign') - before, 'four faults, then the signature').toBe(5);
    expect(verify('sha256', message, { key: Buffer.from(await signer.publicKey()), format: 'der', type: 'spki', dsaEncoding: 'der' }, signature)).toBe(true);
  });

  test('a KMS that does not answer is abandoned after requestTimeoutMs and the call retried', async () => {
    const { signer } = signerForNewKey({ requestTimeoutMs: 300 });
    await signer.keyId();
    const before = endpoint().count('Sign');
    endpoint().inject('Sign', 'stall', 1);
    const started = performance.now();
    expect(await signer.sign(utf8('late'))).toBeInstanceOf(Uint8Array);
    expect(endpoint().count('Sign') - before).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  test('throttling past maxAttempts is CAIRN_SIGNER_FAILED naming ThrottlingException and what to do, the KMS error as cause', async () => {
    const { signer } = signerForNewKey({ maxAttempts: 3 });
    await signer.keyId();
    const before = endpoint().count('Sign');
    endpoint().inject('Sign', 'ThrottlingException', 3);
    const error = await rejection(signer.sign(utf8('x')));
    expect(endpoint().count('Sign') - before).toBe(3);
    expect(error.code).toBe('CAIRN_SIGNER_FAILED');
    expect(causeName(error)).toBe('ThrottlingException');
    expect(error.message).toContain('ThrottlingException');
    expect(error.message).toContain('maxAttempts');
  });

  test('a disabled key is DisabledException, not retried, as CAIRN_SIGNER_FAILED saying to enable the key', async () => {
    const { signer, keyId } = signerForNewKey();
    await signer.keyId();
    endpoint().setEnabled(keyId, false);
    const before = endpoint().count('Sign');
    const error = await rejection(signer.sign(utf8('x')));
    expect(endpoint().count('Sign') - before).toBe(1);
    expect(error.code).toBe('CAIRN_SIGNER_FAILED');
    expect(error.path).toBe('kms.signer.keyId');
    expect(causeName(error)).toBe('DisabledException');
    expect(error.message).toContain('enable-key');
    endpoint().setEnabled(keyId, true);
    expect(await signer.sign(utf8('x'))).toBeInstanceOf(Uint8Array);
  });

  test('a missing permission names it: kms:Sign, kms:GetPublicKey', async () => {
    const first = signerForNewKey();
    endpoint().deny(first.keyId, 'Sign');
    const signError = await rejection(first.signer.sign(utf8('x')));
    expect(causeName(signError)).toBe('AccessDeniedException');
    expect(signError.message).toContain('allow kms:Sign');
    const second = signerForNewKey();
    endpoint().deny(second.keyId, 'GetPublicKey');
    expect((await rejection(second.signer.publicKey())).message).toContain('allow kms:GetPublicKey');
  });

  test('a key that does not exist is NotFoundException saying to fix keyId, region or endpoint', async () => {
    const signer = createKmsSigner({ keyId: 'alias/no-such-key', endpoint: endpoint().url, region: 'us-east-1' });
    const error = await rejection(signer.keyId());
    expect(causeName(error)).toBe('NotFoundException');
    expect(error.message).toContain('alias/no-such-key');
    expect(error.message).toContain('fix keyId, region or endpoint');
  });

  test('no region and no credentials are named with what to set, not taken for a network failure', async () => {
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/cairn-config');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/cairn-credentials');
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_REGION', undefined);
    const noRegion = await rejection(createKmsSigner({ keyId: 'alias/x', endpoint: endpoint().url }).keyId());
    expect(noRegion.code).toBe('CAIRN_SIGNER_FAILED');
    expect(noRegion.message).toContain('set "kms.signer.region" or AWS_REGION');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', undefined);
    const noCredentials = await rejection(createKmsSigner({ keyId: 'alias/x', endpoint: endpoint().url }).keyId());
    expect(causeName(noCredentials)).toBe('CredentialsProviderError');
    expect(noCredentials.message).toContain('AWS_ACCESS_KEY_ID');
  });

  test('a key of another spec or usage is refused by name: a P-384 signing key, a symmetric key', async () => {
    const p384 = endpoint().createKey('ECC_NIST_P384');
    const wrongCurve = await rejection(createKmsSigner({ keyId: p384.keyId, client: endpoint().client() }).keyId());
    expect(wrongCurve.code).toBe('CAIRN_SIGNER_FAILED');
    expect(wrongCurve.message).toContain('ECC_NIST_P384');
    expect(wrongCurve.message).toContain('--key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY');
    const symmetric = endpoint().createKey('SYMMETRIC_DEFAULT');
    const noPublicKey = await rejection(createKmsSigner({ keyId: symmetric.keyId, client: endpoint().client() }).sign(utf8('x')));
    expect(causeName(noPublicKey)).toBe('UnsupportedOperationException');
    expect(noPublicKey.message).toContain('SIGN_VERIFY');
  });

  test('an alias moved to another key after start is caught at the next signature, never returned unverifiable', async () => {
    const { keyId } = endpoint().createKey('ECC_NIST_P256');
    const alias = endpoint().setAlias('alias/cairn-moving', keyId);
    const signer = createKmsSigner({ keyId: alias, client: endpoint().client() });
    await signer.sign(utf8('before'));
    endpoint().setAlias(alias, endpoint().createKey('ECC_NIST_P256').keyId);
    const error = await rejection(signer.sign(utf8('after')));
    expect(error.code).toBe('CAIRN_SIGNER_FAILED');
    expect(error.message).toContain('does not verify with the public key fetched at start');
  });

  test('probe passes for a usable key: GetPublicKey, key spec, a test Sign', async () => {
    const report = await signerForNewKey().signer.probe();
    expect(report.ok).toBe(true);
    expect(report.checks.map((check) => [check.name, check.status])).toEqual([
      ['kms:GetPublicKey', 'pass'],
      ['key-spec', 'pass'],
      ['kms:Sign', 'pass'],
    ]);
  });

  test('probe names each failure with its fix, and skips what depends on it', async () => {
    const noSign = signerForNewKey();
    endpoint().deny(noSign.keyId, 'Sign');
    const signReport = await noSign.signer.probe();
    expect(signReport.ok).toBe(false);
    expect(signReport.checks.find((check) => check.name === 'kms:Sign')).toMatchObject({ status: 'fail', fix: expect.stringContaining('allow kms:Sign') });

    const noPublicKey = signerForNewKey();
    endpoint().deny(noPublicKey.keyId, 'GetPublicKey');
    expect((await noPublicKey.signer.probe()).checks.map((check) => [check.name, check.status])).toEqual([
      ['kms:GetPublicKey', 'fail'],
      ['key-spec', 'skipped'],
      ['kms:Sign', 'skipped'],
    ]);

    const p384 = createKmsSigner({ keyId: endpoint().createKey('ECC_NIST_P384').keyId, client: endpoint().client() });
    const specReport = await p384.probe();
    expect(specReport.checks.map((check) => [check.name, check.status])).toEqual([
      ['kms:GetPublicKey', 'pass'],
      ['key-spec', 'fail'],
      ['kms:Sign', 'skipped'],
    ]);
    expect(specReport.checks[1]!.fix).toContain('ECC_NIST_P256');

    const symmetric = createKmsSigner({ keyId: endpoint().createKey('SYMMETRIC_DEFAULT').keyId, client: endpoint().client() });
    const symmetricReport = await symmetric.probe();
    expect(symmetricReport.checks.map((check) => [check.name, check.status])).toEqual([
      ['kms:GetPublicKey', 'pass'],
      ['key-spec', 'fail'],
      ['kms:Sign', 'skipped'],
    ]);
    expect(symmetricReport.checks[1]!.fix).toContain('SIGN_VERIFY');
  });

  test('probe against a KMS that cannot be reached fails GetPublicKey saying to check the endpoint, and does not throw', async () => {
    const report = await createKmsSigner({ keyId: 'alias/x', endpoint: 'http://127.0.0.1:1', region: 'us-east-1', maxAttempts: 1 }).probe();
    expect(report.ok).toBe(false);
    expect(report.key).toBe('KMS key alias/x at http://127.0.0.1:1');
    expect(report.checks[0]).toMatchObject({ name: 'kms:GetPublicKey', status: 'fail', fix: expect.stringContaining('reachable') });
    expect(report.checks[0]!.error?.code).toBe('CAIRN_SIGNER_FAILED');
  });

  test('construction makes no request', () => {
    const before = endpoint().requests.length;
    createKmsSigner({ keyId: 'alias/anything', endpoint: endpoint().url, region: 'us-east-1' });
    expect(endpoint().requests.length).toBe(before);
  });

  test.each([
    [{}, 'kms.signer.keyId'],
    [{ keyId: '' }, 'kms.signer.keyId'],
    [{ keyId: 'alias/x', endpoint: 'ftp://kms' }, 'kms.signer.endpoint'],
    [{ keyId: 'alias/x', maxAttempts: 0 }, 'kms.signer.maxAttempts'],
    [{ keyId: 'alias/x', requestTimeoutMs: 5 }, 'kms.signer.requestTimeoutMs'],
    [{ keyId: 'alias/x', client: {} }, 'kms.signer.client'],
    [{ keyId: 'alias/x', keySpec: 'ECC_NIST_P256' }, 'kms.signer.keySpec'],
  ])('settings %j are refused with CAIRN_CONFIG_INVALID naming %s', (settings, path) => {
    const error = thrownBy(() => createKmsSigner(settings as unknown as KmsSignerSettings));
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.path).toBe(path);
    expect(error.message).toContain(path);
  });
});
