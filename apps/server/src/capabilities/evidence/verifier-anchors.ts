import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GuaranteeTier } from '@cairn/core';
import type { TrustedAnchor } from '@cairn/audit';
import { createLocalAuditAnchor } from '@cairn/local';
import type { AnchoredCheckpoint, AnchorReceipt, AuditAnchorV1, CheckpointReference } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { isReceiptInside, parseS3AnchorLocation, type S3AnchorLocation } from './s3-anchor-location.ts';

/**
 * The kinds of anchor `cairn verify --online` and `cairn audit verify-log --online` can read, and
 * what each guarantees: the verifier's own table, never a receipt's declaration. A `file` anchor is
 * a directory its operator can rewrite, so it is `detect` and never raises the claim; a kind not in
 * this table cannot be read, so it is refused rather than trusted.
 */
export const verifierAnchorKinds: Readonly<
  Record<string, { readonly guarantee: GuaranteeTier; readonly open: (location: string, where: string) => TrustedAnchor; readonly example: string }>
> = {
  file: { guarantee: 'detect', open: fileAnchor, example: "file:./cairn-data/anchor (a server's anchor directory)" },
  // Object Lock in COMPLIANCE mode: nobody, the bucket's owner included, can delete or shorten a
  // locked version; the anchor checks every version of a tree head's key and the receipt's version.
  's3-object-lock': {
    guarantee: 'external-immutable',
    open: (location, where) => s3ObjectLockAnchor(parseS3AnchorLocation(location, where)),
    example: 's3-object-lock:s3://acme-anchor/cairn/?region=eu-west-1 (add &endpoint=http://127.0.0.1:7480&forcePathStyle=true for an S3-compatible server)',
  },
};

/**
 * A trusted anchor from `<kind>:<location>` (`file:/srv/cairn/cairn-data/anchor`), as given with
 * `--anchor` (`where` names the option). An unknown kind or an empty location is bad input
 * (CAIRN_PAYLOAD_INVALID) naming what is known.
 */
export function trustedAnchorOf(specification: string, where: string): TrustedAnchor {
  const separator = specification.indexOf(':');
  const kind = separator < 0 ? specification : specification.slice(0, separator);
  const location = separator < 0 ? '' : specification.slice(separator + 1);
  const known = Object.hasOwn(verifierAnchorKinds, kind) ? verifierAnchorKinds[kind] : undefined;
  if (!known || location === '') {
    const kinds = Object.keys(verifierAnchorKinds).join(', ');
    const problem = known ? 'names no location' : `names a kind of anchor this verifier cannot read ('${kind}'; it reads: ${kinds})`;
    const examples = Object.values(verifierAnchorKinds)
      .map((entry) => entry.example)
      .join(', or ');
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `${where} ${JSON.stringify(specification)} ${problem}. Write <kind>:<location>, e.g. ${examples}.`, {
      path: where,
    });
  }
  return known.open(location, where);
}

/**
 * A `file` anchor's directory, read live through the local anchor itself (its own tamper checks:
 * envelope digest, receipt file, journal). A directory that is gone holds nothing: it is not
 * created again by reading it.
 */
function fileAnchor(location: string): TrustedAnchor {
  const directory = resolve(location);
  const anchor = createLocalAuditAnchor({ directory });
  return {
    name: `file:${directory}`,
    guarantee: verifierAnchorKinds['file']!.guarantee,
    read: async (reference) => (existsSync(directory) ? anchor.read(reference) : null),
  };
}

/**
 * An S3 Object Lock anchor read live through `createS3ObjectLockAnchor` (its own checks: every
 * version of the tree head's key locked and alike, the receipt's version held with its digest and
 * retention). `@cairn/s3`, and the AWS SDK under it, are imported at the first read, so a verifier
 * that reads no S3 anchor never loads them. Credentials come from the SDK's default chain.
 */
export function s3ObjectLockAnchor(
  location: S3AnchorLocation,
  connection: { readonly requestTimeoutMs?: number; readonly maxAttempts?: number } = {},
): TrustedAnchor & {
  read(reference: CheckpointReference, receipt?: AnchorReceipt): Promise<AnchoredCheckpoint | null>;
  isOwnReceipt(receipt: AnchorReceipt): boolean;
} {
  let opened: Promise<AuditAnchorV1> | undefined;
  const open = () =>
    (opened ??= import('@cairn/s3').then(({ createS3ObjectLockAnchor }) =>
      // Reading never writes: the retention it would lock new checkpoints for does not matter here.
      createS3ObjectLockAnchor({ ...location, ...connection, retentionDays: 1 }),
    ));
  const anchor = {
    name: `s3-object-lock:s3://${location.bucket}/${location.prefix}${location.endpoint ? ` at ${location.endpoint}` : ''}`,
    guarantee: verifierAnchorKinds['s3-object-lock']!.guarantee,
    read: async (reference: CheckpointReference, receipt?: AnchorReceipt) => (await open()).read(reference, ...(receipt === undefined ? [] : [receipt])),
    isOwnReceipt: (receipt: AnchorReceipt) => receipt.anchor === 's3-object-lock' && isReceiptInside(location, receipt.location),
  };
  return anchor;
}
