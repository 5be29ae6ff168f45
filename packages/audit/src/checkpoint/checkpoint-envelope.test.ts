import type { Checkpoint, DsseEnvelope } from '@cairn/core';
import { canonicalJsonBytes, sha256Digest } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { signEnvelope } from '../dsse/dsse-envelope.ts';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { checkpointPayloadType, manifestPayloadType, openCheckpoint, signCheckpoint } from './checkpoint-envelope.ts';

const checkpoint: Checkpoint = { origin: 'cairn:test', treeSize: 8, rootHash: sha256Digest('root').slice(7), time: '2026-11-22T10:00:00.000Z' };

test('a signed checkpoint opens to itself', async () => {
  const { signer, trusted } = createTestSigner();
  const envelope = await signCheckpoint(checkpoint, signer);
  expect(envelope.payloadType).toBe(checkpointPayloadType);
  expect(openCheckpoint(envelope, [trusted])).toEqual(checkpoint);
});

test('a manifest envelope is not a checkpoint, even when signed by the trusted key', async () => {
  const { signer, trusted } = createTestSigner();
  const envelope = await signEnvelope(manifestPayloadType, canonicalJsonBytes(checkpoint), signer);
  expect(() => openCheckpoint(envelope, [trusted])).toThrow(/payloadType/);
});

test('a signed payload that is valid but not canonical JSON is refused', async () => {
  const { signer, trusted } = createTestSigner();
  const loose: DsseEnvelope = await signEnvelope(checkpointPayloadType, new TextEncoder().encode(JSON.stringify(checkpoint, null, 1)), signer);
  expect(() => openCheckpoint(loose, [trusted])).toThrow(/canonical JSON/);
});
