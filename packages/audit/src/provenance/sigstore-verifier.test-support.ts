// Sigstore's own verifier (@sigstore/verify), as an independent check of Cairn's provenance
// bundles: it parses the bundle with @sigstore/bundle, finds the key by the bundle's hint among
// the keys it was given, and verifies the DSSE signature over the PAE. Cairn writes no
// transparency-log entry or timestamp, so the thresholds for them are 0; everything else is the
// library's full `Verifier.verify` path. It does not compare an in-toto subject with an artifact
// (sigstore-js leaves that to the caller), so `verifyWithSigstore` does that last step itself,
// reading the payload only from the envelope the library verified.
import { createHash } from 'node:crypto';
import type { PublicKeyRecord } from '@cairn/core';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';

type TrustedRoot = Parameters<typeof toTrustMaterial>[0];
type PublicKey = NonNullable<Exclude<Parameters<typeof toTrustMaterial>[1], (...args: never[]) => unknown>>[string];

/** Verifies `bytes` with @sigstore/verify against `trusted`; throws the library's VerificationError, or says the patch is not the subject. */
export function verifyWithSigstore(bytes: Uint8Array, trusted: readonly PublicKeyRecord[], patch?: Uint8Array): { subject: string } {
  const bundle = bundleFromJSON(JSON.parse(new TextDecoder().decode(bytes)));
  const keys: Record<string, PublicKey> = Object.fromEntries(
    trusted.map((record) => [record.keyId, { rawBytes: Buffer.from(record.publicKey, 'base64'), keyDetails: 0, validFor: undefined } as unknown as PublicKey]),
  );
  const root = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] } as unknown as TrustedRoot;
  const verifier = new Verifier(toTrustMaterial(root, keys), { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  verifier.verify(toSignedEntity(bundle));
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('the bundle holds no DSSE envelope');
  const { payloadType, payload } = bundle.content.dsseEnvelope;
  if (payloadType !== 'application/vnd.in-toto+json') throw new Error(`payloadType is ${payloadType}`);
  const statement = JSON.parse(Buffer.from(payload).toString('utf8')) as { subject: { digest: { sha256: string } }[] };
  const subject = statement.subject[0]!.digest.sha256;
  if (patch !== undefined) {
    const actual = createHash('sha256').update(patch).digest('hex');
    if (actual !== subject) throw new Error(`subject mismatch: the patch hashes to ${actual}, the statement's subject is ${subject}`);
  }
  return { subject };
}
