import type { BatchedManifest, DispatchManifest, DsseEnvelope, SignerV1 } from '@cairn/core';
import { canonicalJsonBytes } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { decodeBase64Strict, encodeBase64 } from '../dsse/base64.ts';
import { signEnvelope } from '../dsse/dsse-envelope.ts';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { MerkleLog } from '../merkle/merkle-log.ts';
import { manifestOf as manifestOfRun } from './dispatch-manifest.test-support.ts';
import { manifestPayloadType, openManifest, signManifest } from './checkpoint-envelope.ts';
import { isBatched, manifestBatchPayloadType, openStoredManifest, signManifests, storedManifestSignatures } from './manifest-batch.ts';

const manifestOf = (itemId: string): DispatchManifest => manifestOfRun('run-1', itemId);

/** A signer that counts its signatures. */
function counting(signer: SignerV1): { signer: SignerV1; signatures: () => number } {
  let signatures = 0;
  return {
    signer: { ...signer, sign: (message) => (signatures++, signer.sign(message)) },
    signatures: () => signatures,
  };
}

async function batchOf(size: number) {
  const { signer, trusted } = createTestSigner();
  const manifests = Array.from({ length: size }, (_, index) => manifestOf(`item-${index}`));
  const stored = (await signManifests(manifests, signer)) as BatchedManifest[];
  return { signer, trusted, manifests, stored };
}

test('the manifests of a pass are signed once; each opens to itself, and its root and proof are those of the RFC 6962 log of the same leaves', async () => {
  for (const size of [2, 3, 5, 8, 13, 50]) {
    const { signer, trusted } = createTestSigner();
    const counted = counting(signer);
    const manifests = Array.from({ length: size }, (_, index) => manifestOf(`item-${index}`));
    const stored = await signManifests(manifests, counted.signer);
    expect(counted.signatures()).toBe(1);
    const log = MerkleLog.open();
    for (const manifest of manifests) log.append(canonicalJsonBytes(manifest));
    for (const [index, one] of stored.entries()) {
      expect(isBatched(one)).toBe(true);
      const batched = one as BatchedManifest;
      expect(batched.index).toBe(index);
      expect(batched.batch).toBe((stored[0] as BatchedManifest).batch);
      expect(batched.proof.map((hash) => Buffer.from(decodeBase64Strict(hash)!).toString('hex'))).toEqual(
        log.inclusionProof(index).map((hash) => Buffer.from(hash).toString('hex')),
      );
      expect(openStoredManifest(batched, [trusted])).toEqual(manifests[index]);
    }
    const statement = JSON.parse(Buffer.from((stored[0] as BatchedManifest).batch.payload, 'base64').toString('utf8')) as Record<string, unknown>;
    expect(statement).toEqual({ version: 'cairn.manifest-batch/v1', size, root: encodeBase64(log.rootHash()) });
    expect((stored[0] as BatchedManifest).batch.payloadType).toBe(manifestBatchPayloadType);
  }
});

test('a pass of one manifest stores its DSSE envelope, as a manifest signed alone', async () => {
  const { signer, trusted } = createTestSigner();
  const [stored] = await signManifests([manifestOf('only')], signer);
  expect(isBatched(stored!)).toBe(false);
  expect(stored).toEqual(await signManifest(manifestOf('only'), signer));
  expect(openStoredManifest(stored!, [trusted])).toEqual(manifestOf('only'));
  expect(storedManifestSignatures(stored!)).toEqual((stored as DsseEnvelope).signatures);
});

test('manifests are checked against their schema before signing, unless the caller vouches for them (prevalidated): the same bytes either way', async () => {
  const { signer, trusted } = createTestSigner();
  const invalid = { ...manifestOf('bad'), attempt: 0 };
  for (const manifests of [[invalid], [manifestOf('good'), invalid]]) {
    await expect(signManifests(manifests, signer)).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID' });
  }
  for (const size of [1, 3]) {
    const manifests = Array.from({ length: size }, (_, index) => manifestOf(`item-${index}`));
    const stored = await signManifests(manifests, signer, { prevalidated: true });
    // Ed25519 signs deterministically: the envelopes are equal only if the signed bytes are.
    expect(stored).toEqual(await signManifests(manifests, signer));
    stored.forEach((one, index) => expect(openStoredManifest(one, [trusted])).toEqual(manifests[index]));
  }
  // What a signer vouched for is still checked where it is opened.
  const [unchecked] = await signManifests([invalid], signer, { prevalidated: true });
  expect(() => openStoredManifest(unchecked!, [trusted])).toThrow(expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID' }));
});

test('a batched manifest edited anywhere is refused, naming what does not hold', async () => {
  const { trusted, stored } = await batchOf(5);
  const third = stored[2]!;
  const refusals: [string, BatchedManifest, RegExp][] = [
    ['another manifest of the batch in its place', { ...third, manifest: stored[3]!.manifest }, /not leaf 2 of the signed batch of 5/],
    ['another index', { ...third, index: 3 }, /not leaf 3 of the signed batch of 5/],
    ['an index past the batch', { ...third, index: 5 }, /not leaf 5/],
    ['a proof hash changed', { ...third, proof: [stored[0]!.proof[0]!, ...third.proof.slice(1)] }, /inclusion proof/],
    ['a proof one hash short', { ...third, proof: third.proof.slice(1) }, /inclusion proof/],
    ['a proof one hash long', { ...third, proof: [...third.proof, third.proof[0]!] }, /inclusion proof/],
    ['a proof hash that is not canonical base64', { ...third, proof: [third.proof[0]!.replace(/=$/, ''), ...third.proof.slice(1)] }, /inclusion proof/],
    [
      'a manifest of its own in place of one of the batch',
      { ...third, manifest: encodeBase64(canonicalJsonBytes({ ...manifestOf('item-2'), env: { EXTRA: '1' } })) },
      /inclusion proof/,
    ],
  ];
  for (const [what, edited, reason] of refusals) {
    expect(() => openStoredManifest(edited, [trusted]), what).toThrow(
      expect.objectContaining({ code: 'CAIRN_SIGNATURE_INVALID', message: expect.stringMatching(reason) }),
    );
  }
  expect(() => openStoredManifest({ ...third, manifest: `${third.manifest}!` }, [trusted])).toThrow(
    expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', path: '$.manifest' }),
  );
});

test('a batch statement changed, signed by a key not trusted, or passed off as a manifest is refused', async () => {
  const { trusted, stored } = await batchOf(4);
  const first = stored[0]!;
  const statement = JSON.parse(Buffer.from(first.batch.payload, 'base64').toString('utf8')) as Record<string, unknown>;
  const resized = { ...first, batch: { ...first.batch, payload: Buffer.from(JSON.stringify({ ...statement, size: 5 })).toString('base64') } };
  expect(() => openStoredManifest(resized, [trusted])).toThrow(expect.objectContaining({ code: 'CAIRN_SIGNATURE_INVALID' }));
  const other = createTestSigner();
  expect(() => openStoredManifest(first, [other.trusted])).toThrow(expect.objectContaining({ code: 'CAIRN_SIGNATURE_INVALID' }));
  // The batch's envelope is no manifest envelope, and a manifest envelope is no batch.
  expect(() => openManifest(first.batch, [trusted])).toThrow(/payloadType/);
  const single = await signManifest(manifestOf('item-0'), (await batchOf(2)).signer);
  expect(() => openStoredManifest({ ...first, batch: single }, [trusted])).toThrow(expect.objectContaining({ code: 'CAIRN_SIGNATURE_INVALID' }));
  expect(single.payloadType).toBe(manifestPayloadType);
});

test('a batch whose signer signed a manifest that is not canonical JSON is refused as a payload', async () => {
  const { signer, trusted } = createTestSigner();
  // Made by hand: signManifests always writes canonical JSON. Two leaves, the first loose JSON.
  const loose = new TextEncoder().encode(JSON.stringify(manifestOf('loose'), null, 1));
  const log = MerkleLog.open();
  log.append(loose);
  log.append(canonicalJsonBytes(manifestOf('other')));
  const batch = await signEnvelope(
    manifestBatchPayloadType,
    canonicalJsonBytes({ version: 'cairn.manifest-batch/v1', size: 2, root: encodeBase64(log.rootHash()) }),
    signer,
  );
  const stored: BatchedManifest = { batch, index: 0, manifest: encodeBase64(loose), proof: log.inclusionProof(0).map(encodeBase64) };
  expect(() => openStoredManifest(stored, [trusted])).toThrow(
    expect.objectContaining({ code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringMatching(/canonical JSON/) }),
  );
});
