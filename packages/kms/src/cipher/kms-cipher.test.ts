import { describeCipher } from '@cairn/conformance';
import type { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, test } from 'vitest';
import { causeName, kmsEndpointForFile, rejection, thrownBy } from '../testing/kms.test-support.ts';
import { createKmsCipher, type KmsCipherSettings } from './kms-cipher.ts';

const endpoint = kmsEndpointForFile();
const utf8 = (text: string) => new TextEncoder().encode(text);
const context = { secret: 'GITHUB_TOKEN', version: '3' };

/** A fresh symmetric key and a cipher for it, the client built from the settings. */
function cipherForNewKey(settings: Partial<KmsCipherSettings> = {}) {
  const { keyId, arn } = endpoint().createKey('SYMMETRIC_DEFAULT');
  const cipher = createKmsCipher({ keyId, endpoint: endpoint().url, region: 'us-east-1', ...settings });
  return { cipher, keyId, arn };
}

describeCipher({ name: 'AWS KMS data keys by key id, client from the settings', create: () => cipherForNewKey().cipher });

describeCipher({
  name: 'AWS KMS data keys by alias, injected client',
  create: () => {
    const { keyId } = endpoint().createKey('SYMMETRIC_DEFAULT');
    return createKmsCipher({ keyId: endpoint().setAlias(`alias/secrets-${keyId.slice(0, 8)}`, keyId), client: endpoint().client() });
  },
});

describe('KmsCipher', () => {
  test('an envelope: aes-256-gcm+kms, the key ARN, the KMS-encrypted data key; the context goes to KMS as encryption context, the plaintext never', async () => {
    const { cipher, arn } = cipherForNewKey();
    const before = endpoint().requests.length;
    const secret = 'ghp_plaintext_marker_123';
    const envelope = await cipher.encrypt(utf8(secret), { version: '3', secret: 'GITHUB_TOKEN' });
    expect(envelope).toMatchObject({ version: 1, algorithm: 'aes-256-gcm+kms', keyId: arn });
    expect(Buffer.from(envelope.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(envelope.tag, 'base64')).toHaveLength(16);
    expect(envelope.encryptedKey).toBeTypeOf('string');
    expect(new TextDecoder().decode(await cipher.decrypt(envelope, context))).toBe(secret);
    const sent = endpoint().requests.slice(before);
    expect(sent.map((request) => request.operation)).toEqual(['GenerateDataKey', 'Decrypt']);
    expect(sent[0]!.body).toMatchObject({ KeySpec: 'AES_256' });
    // Canonical (sorted) order, exactly the context's names: KMS logs it, so it holds no values.
    expect(JSON.stringify(sent[0]!.body['EncryptionContext'])).toBe(JSON.stringify({ secret: 'GITHUB_TOKEN', version: '3' }));
    expect(sent[1]!.body['EncryptionContext']).toEqual(context);
    const everything = JSON.stringify(sent);
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(Buffer.from(secret).toString('base64'));
  });

  test('every plaintext data key KMS hands out is zeroed once used', async () => {
    const { keyId } = endpoint().createKey('SYMMETRIC_DEFAULT');
    const client = endpoint().client();
    const handedOut: Uint8Array[] = [];
    const send = client.send.bind(client) as (command: unknown) => Promise<{ Plaintext?: Uint8Array }>;
    (client as unknown as { send: unknown }).send = async (command: unknown) => {
      const response = await send(command);
      if (response.Plaintext) handedOut.push(response.Plaintext);
      return response;
    };
    const cipher = createKmsCipher({ keyId, client: client as KMSClient });
    const envelope = await cipher.encrypt(utf8('x'), context);
    await cipher.decrypt(envelope, context);
    await rejection(cipher.decrypt({ ...envelope, tag: Buffer.alloc(16).toString('base64') }, context));
    await cipher.probe();
    expect(handedOut.length).toBeGreaterThanOrEqual(5);
    for (const key of handedOut) expect(key.every((byte) => byte === 0)).toBe(true);
  });

  test('the context is also the AES-GCM additional data: even a KMS that ignored encryption contexts could not move a ciphertext to another context', async () => {
    const { keyId } = endpoint().createKey('SYMMETRIC_DEFAULT');
    const client = endpoint().client();
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    // What such a KMS sees: every request without its encryption context.
    (client as unknown as { send: unknown }).send = (command: { input: Record<string, unknown> }) => {
      delete command.input['EncryptionContext'];
      return send(command);
    };
    const cipher = createKmsCipher({ keyId, client: client as KMSClient });
    const envelope = await cipher.encrypt(utf8('bound twice'), context);
    expect(new TextDecoder().decode(await cipher.decrypt(envelope, context))).toBe('bound twice');
    const error = await rejection(cipher.decrypt(envelope, { ...context, secret: 'NPM_TOKEN' }));
    expect(error.code).toBe('CAIRN_CIPHER_DECRYPT_FAILED');
    expect(error.message).toContain('does not authenticate');
  });

  test('a wrong context is CAIRN_CIPHER_DECRYPT_FAILED from KMS itself (InvalidCiphertextException), not retried', async () => {
    const { cipher } = cipherForNewKey();
    const envelope = await cipher.encrypt(utf8('bound'), context);
    const before = endpoint().count('Decrypt');
    const error = await rejection(cipher.decrypt(envelope, { ...context, version: '4' }));
    expect(error.code).toBe('CAIRN_CIPHER_DECRYPT_FAILED');
    expect(causeName(error)).toBe('InvalidCiphertextException');
    expect(error.message).toContain('the context differs');
    expect(endpoint().count('Decrypt') - before).toBe(1);
  });

  test('an envelope of another KMS key is CAIRN_CIPHER_DECRYPT_FAILED (IncorrectKeyException) naming both keys', async () => {
    const first = cipherForNewKey();
    const second = cipherForNewKey();
    const envelope = await first.cipher.encrypt(utf8('x'), context);
    const error = await rejection(second.cipher.decrypt(envelope, context));
    expect(error.code).toBe('CAIRN_CIPHER_DECRYPT_FAILED');
    expect(causeName(error)).toBe('IncorrectKeyException');
    expect(error.message).toContain(first.arn);
    expect(error.message).toContain(second.keyId);
  });

  test('a disabled key is CAIRN_CIPHER_UNAVAILABLE (DisabledException) saying to enable it, for encrypt and decrypt', async () => {
    const { cipher, keyId } = cipherForNewKey();
    const envelope = await cipher.encrypt(utf8('x'), context);
    endpoint().setEnabled(keyId, false);
    for (const attempt of [cipher.encrypt(utf8('x'), context), cipher.decrypt(envelope, context)]) {
      const error = await rejection(attempt);
      expect(error.code).toBe('CAIRN_CIPHER_UNAVAILABLE');
      expect(error.path).toBe('kms.cipher.keyId');
      expect(causeName(error)).toBe('DisabledException');
      expect(error.message).toContain('enable-key');
    }
  });

  test('throttling and KMS 5xx are retried on GenerateDataKey and Decrypt; past maxAttempts, CAIRN_CIPHER_UNAVAILABLE', async () => {
    const { cipher } = cipherForNewKey({ maxAttempts: 4 });
    endpoint().inject('GenerateDataKey', 'ThrottlingException', 2);
    endpoint().inject('GenerateDataKey', 'DependencyTimeoutException', 1);
    const envelope = await cipher.encrypt(utf8('through throttling'), context);
    endpoint().inject('Decrypt', 'ThrottlingException', 3);
    expect(new TextDecoder().decode(await cipher.decrypt(envelope, context))).toBe('through throttling');
    endpoint().inject('Decrypt', 'ThrottlingException', 4);
    const error = await rejection(cipher.decrypt(envelope, context));
    expect(error.code).toBe('CAIRN_CIPHER_UNAVAILABLE');
    expect(causeName(error)).toBe('ThrottlingException');
  });

  test('a missing permission names it: kms:GenerateDataKey, kms:Decrypt', async () => {
    const { cipher, keyId } = cipherForNewKey();
    const envelope = await cipher.encrypt(utf8('x'), context);
    endpoint().deny(keyId, 'GenerateDataKey');
    endpoint().deny(keyId, 'Decrypt');
    expect((await rejection(cipher.encrypt(utf8('x'), context))).message).toContain('allow kms:GenerateDataKey');
    const decryptError = await rejection(cipher.decrypt(envelope, context));
    expect(decryptError.code).toBe('CAIRN_CIPHER_UNAVAILABLE');
    expect(decryptError.message).toContain('allow kms:Decrypt');
  });

  test('a context KMS refuses as malformed (an empty name): encrypt is CAIRN_CIPHER_UNAVAILABLE saying so, decrypt is CAIRN_CIPHER_DECRYPT_FAILED', async () => {
    const { cipher } = cipherForNewKey();
    const encryptError = await rejection(cipher.encrypt(utf8('x'), { '': 'unnamed' }));
    expect(encryptError.code).toBe('CAIRN_CIPHER_UNAVAILABLE');
    expect(causeName(encryptError)).toBe('ValidationException');
    expect(encryptError.message).toContain('non-empty names');
    const envelope = await cipher.encrypt(utf8('x'), context);
    const decryptError = await rejection(cipher.decrypt(envelope, { ...context, '': 'unnamed' }));
    expect(decryptError.code).toBe('CAIRN_CIPHER_DECRYPT_FAILED');
    expect(causeName(decryptError)).toBe('ValidationException');
  });

  test('a signing key is refused by name (InvalidKeyUsageException)', async () => {
    const { keyId } = endpoint().createKey('ECC_NIST_P256');
    const error = await rejection(createKmsCipher({ keyId, client: endpoint().client() }).encrypt(utf8('x'), context));
    expect(error.code).toBe('CAIRN_CIPHER_UNAVAILABLE');
    expect(causeName(error)).toBe('InvalidKeyUsageException');
    expect(error.message).toContain('SYMMETRIC_DEFAULT');
  });

  test('malformed envelopes are CAIRN_CIPHER_DECRYPT_FAILED before any request to KMS', async () => {
    const { cipher } = cipherForNewKey();
    const envelope = await cipher.encrypt(utf8('x'), context);
    const before = endpoint().requests.length;
    for (const bad of [
      { ...envelope, algorithm: 'A256GCM' },
      { ...envelope, version: 2 },
      { ...envelope, encryptedKey: undefined },
      { ...envelope, encryptedKey: '' },
      { ...envelope, encryptedKey: 'not base64!' },
      { ...envelope, iv: Buffer.alloc(16).toString('base64') },
      null,
    ]) {
      expect((await rejection(cipher.decrypt(bad as never, context))).code, JSON.stringify(bad)).toBe('CAIRN_CIPHER_DECRYPT_FAILED');
    }
    expect(endpoint().requests.length).toBe(before);
  });

  test('probe passes for a usable key: key spec, GenerateDataKey, Decrypt under its context and refused under another', async () => {
    const report = await cipherForNewKey().cipher.probe();
    expect(report.ok).toBe(true);
    expect(report.checks.map((check) => [check.name, check.status])).toEqual([
      ['key-spec', 'pass'],
      ['kms:GenerateDataKey', 'pass'],
      ['kms:Decrypt', 'pass'],
    ]);
  });

  test('probe: DescribeKey not granted is skipped (not needed); a missing kms:Decrypt fails with its fix; a signing key fails key-spec', async () => {
    const noDecrypt = cipherForNewKey();
    endpoint().deny(noDecrypt.keyId, 'DescribeKey');
    endpoint().deny(noDecrypt.keyId, 'Decrypt');
    const report = await noDecrypt.cipher.probe();
    expect(report.ok).toBe(false);
    expect(report.checks.map((check) => [check.name, check.status])).toEqual([
      ['key-spec', 'skipped'],
      ['kms:GenerateDataKey', 'pass'],
      ['kms:Decrypt', 'fail'],
    ]);
    expect(report.checks[2]!.fix).toContain('allow kms:Decrypt');

    const signing = createKmsCipher({ keyId: endpoint().createKey('ECC_NIST_P256').keyId, client: endpoint().client() });
    const signingReport = await signing.probe();
    expect(signingReport.checks.map((check) => [check.name, check.status])).toEqual([
      ['key-spec', 'fail'],
      ['kms:GenerateDataKey', 'fail'],
      ['kms:Decrypt', 'skipped'],
    ]);
    expect(signingReport.checks[0]!.fix).toContain('symmetric key');

    const disabled = cipherForNewKey();
    endpoint().setEnabled(disabled.keyId, false);
    expect((await disabled.cipher.probe()).checks[0]).toMatchObject({ status: 'fail', fix: expect.stringContaining('enable-key') });
  });

  test.each([
    [{}, 'kms.cipher.keyId'],
    [{ keyId: 7 }, 'kms.cipher.keyId'],
    [{ keyId: 'alias/x', endpoint: 'not a url' }, 'kms.cipher.endpoint'],
    [{ keyId: 'alias/x', maxAttempts: 21 }, 'kms.cipher.maxAttempts'],
    [{ keyId: 'alias/x', key: 'inline' }, 'kms.cipher.key'],
  ])('settings %j are refused with CAIRN_CONFIG_INVALID naming %s', (settings, path) => {
    const error = thrownBy(() => createKmsCipher(settings as unknown as KmsCipherSettings));
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.path).toBe(path);
    expect(error.message).toContain(path);
  });
});
