// The test endpoint answers like KMS, so the seams' tests mean something: AWS's JSON 1.1 error
// shapes at the HTTP level, the real SDK's error names, and real cryptography.
import { createHash, verify } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { describe, expect, test } from 'vitest';
import { kmsEndpointForFile } from './kms.test-support.ts';

const endpoint = kmsEndpointForFile();

async function rejected(promise: Promise<unknown>): Promise<{ name: string; $metadata: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as { name: string; $metadata: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail');
}

describe('the KMS test endpoint', () => {
  test('errors are JSON 1.1 with __type and message, 400 for refusals; unsigned requests are refused', async () => {
    const unsigned = await fetch(endpoint().url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Sign' },
      body: '{}',
    });
    expect(unsigned.status).toBe(400);
    expect(unsigned.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await unsigned.json()).toEqual({ __type: 'MissingAuthenticationTokenException', message: expect.any(String) });
    const unknownKey = await rejected(
      endpoint()
        .client()
        .send(new GetPublicKeyCommand({ KeyId: 'alias/absent' })),
    );
    expect(unknownKey.name).toBe('NotFoundException');
    expect(unknownKey.$metadata.httpStatusCode).toBe(400);
  });

  test('Sign: a DIGEST is signed as given (ECDSA P-256, DER), RAW is hashed and limited to 4096 bytes, a wrong digest length is refused', async () => {
    const { keyId } = endpoint().createKey('ECC_NIST_P256');
    const client = endpoint().client();
    const spki = {
      key: Buffer.from((await client.send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey!),
      format: 'der',
      type: 'spki',
      dsaEncoding: 'der',
    } as const;
    const message = Buffer.from('checkpoint');
    const digest = createHash('sha256').update(message).digest();
    const fromDigest = await client.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(verify('sha256', message, spki, fromDigest.Signature!)).toBe(true);
    const fromRaw = await client.send(new SignCommand({ KeyId: keyId, Message: message, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(verify('sha256', message, spki, fromRaw.Signature!)).toBe(true);
    const tooLong = await rejected(
      client.send(new SignCommand({ KeyId: keyId, Message: new Uint8Array(4097), MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' })),
    );
    expect(tooLong.name).toBe('ValidationException');
    const shortDigest = await rejected(
      client.send(new SignCommand({ KeyId: keyId, Message: digest.subarray(1), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })),
    );
    expect(shortDigest.name).toBe('ValidationException');
    const wrongAlgorithm = await rejected(
      client.send(new SignCommand({ KeyId: keyId, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_384' })),
    );
    expect(wrongAlgorithm.name).toBe('InvalidKeyUsageException');
  });

  test('data keys decrypt only under their encryption context (in any order), their key, and unaltered', async () => {
    const { keyId } = endpoint().createKey('SYMMETRIC_DEFAULT');
    const other = endpoint().createKey('SYMMETRIC_DEFAULT');
    const client = endpoint().client();
    const generated = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { a: '1', b: '2' } }));
    expect(generated.Plaintext).toHaveLength(32);
    const decrypted = await client.send(new DecryptCommand({ CiphertextBlob: generated.CiphertextBlob, EncryptionContext: { b: '2', a: '1' } }));
    expect(Buffer.from(decrypted.Plaintext!).equals(Buffer.from(generated.Plaintext!))).toBe(true);
    const blob = Buffer.from(generated.CiphertextBlob!);
    const altered = Buffer.from(blob);
    altered[altered.length - 1]! ^= 1;
    for (const [request, name] of [
      [{ CiphertextBlob: blob, EncryptionContext: { a: '1' } }, 'InvalidCiphertextException'],
      [{ CiphertextBlob: blob }, 'InvalidCiphertextException'],
      [{ CiphertextBlob: altered, EncryptionContext: { a: '1', b: '2' } }, 'InvalidCiphertextException'],
      [{ CiphertextBlob: blob, EncryptionContext: { a: '1', b: '2' }, KeyId: other.keyId }, 'IncorrectKeyException'],
    ] as const) {
      expect((await rejected(client.send(new DecryptCommand(request)))).name, JSON.stringify(name)).toBe(name);
    }
    endpoint().setEnabled(keyId, false);
    expect((await rejected(client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { a: '1', b: '2' } })))).name).toBe('DisabledException');
  });

  test('injected faults: ThrottlingException (400) and KMSInternalException (500), each for as many calls as asked', async () => {
    const { keyId } = endpoint().createKey('ECC_NIST_P256');
    const client = endpoint().client();
    endpoint().inject('GetPublicKey', 'ThrottlingException', 2);
    endpoint().inject('GetPublicKey', 'KMSInternalException', 1);
    const first = await rejected(client.send(new GetPublicKeyCommand({ KeyId: keyId })));
    expect([first.name, first.$metadata.httpStatusCode]).toEqual(['ThrottlingException', 400]);
    expect((await rejected(client.send(new GetPublicKeyCommand({ KeyId: keyId })))).name).toBe('ThrottlingException');
    const third = await rejected(client.send(new GetPublicKeyCommand({ KeyId: keyId })));
    expect([third.name, third.$metadata.httpStatusCode]).toEqual(['KMSInternalException', 500]);
    expect((await client.send(new GetPublicKeyCommand({ KeyId: keyId }))).KeySpec).toBe('ECC_NIST_P256');
  });
});
