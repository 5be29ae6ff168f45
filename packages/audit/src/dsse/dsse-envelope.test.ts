import { describe, expect, test } from 'vitest';
import { isCairnError } from '@cairn/protocol';
import { encodeBase64 } from './base64.ts';
import { openEnvelope, signEnvelope } from './dsse-envelope.ts';
import { preAuthenticationEncoding } from './pre-authentication-encoding.ts';
import { createTestSigner } from './test-signer.test-support.ts';
import { trustedKeyFrom } from './verify-signature.ts';

const text = (value: string) => new TextEncoder().encode(value);

test('PAE matches the DSSE specification example', () => {
  expect(new TextDecoder().decode(preAuthenticationEncoding('http://example.com/HelloWorld', text('hello world')))).toBe(
    'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
  );
});

describe.each(['ed25519', 'ecdsa-p256-sha256'] as const)('DSSE envelopes signed with %s', (algorithm) => {
  const { signer, trusted } = createTestSigner(algorithm);

  test('open what was signed, naming the key', async () => {
    const envelope = await signEnvelope('application/example', text('{"a":1}'), signer);
    expect(envelope.signatures[0]!.keyid).toBe(trusted.record.keyId);
    const opened = openEnvelope(envelope, 'application/example', [trusted]);
    expect(new TextDecoder().decode(opened.payload)).toBe('{"a":1}');
  });

  test.each([
    ['another payloadType', (envelope: Record<string, unknown>) => ({ ...envelope, payloadType: 'application/other' }), /payloadType/],
    ['a changed payload', (envelope: Record<string, unknown>) => ({ ...envelope, payload: encodeBase64(text('{"a":2}')) }), /No signature .* verifies/],
    ['non-canonical base64', (envelope: Record<string, unknown>) => ({ ...envelope, payload: `${envelope['payload']}!` }), /canonical base64/],
    [
      'no signature by a trusted key',
      (envelope: Record<string, unknown>) => ({ ...envelope, signatures: [{ keyid: 'sha256:00', sig: 'AA==' }] }),
      /by a trusted key/,
    ],
  ])('refuse %s', async (_what, change, message) => {
    const envelope = await signEnvelope('application/example', text('{"a":1}'), signer);
    const tampered = change(envelope as unknown as Record<string, unknown>) as unknown as typeof envelope;
    expect(() => openEnvelope(tampered, 'application/example', [trusted])).toThrow(message);
  });

  test('refuse a signature by an untrusted key that claims the trusted key id', async () => {
    const impostor = createTestSigner(algorithm);
    const envelope = await signEnvelope('application/example', text('x'), impostor.signer);
    const relabelled = { ...envelope, signatures: [{ ...envelope.signatures[0]!, keyid: trusted.record.keyId }] };
    try {
      openEnvelope(relabelled, 'application/example', [trusted]);
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_SIGNATURE_INVALID')).toBe(true);
    }
  });
});

test('a key record whose id is not the digest of its key is refused', () => {
  const { record } = createTestSigner();
  expect(() => trustedKeyFrom({ ...record, keyId: createTestSigner().record.keyId })).toThrow(/is not the sha256 of its public key/);
  expect(() => trustedKeyFrom({ ...record, algorithm: 'ecdsa-p256-sha256' })).toThrow(/not an ecdsa-p256-sha256 key/);
});
