import type { ServerSideEncryption } from '@aws-sdk/client-s3';
import { CairnError } from '@cairn/protocol';
import { z } from 'zod';

/**
 * How objects are encrypted at rest: `sse-s3` (keys S3 manages, AES256) or `sse-kms` with a KMS
 * key id, alias or ARN. Unset: no header is sent and the bucket's default applies, so a bucket
 * that enforces SSE-KMS is never downgraded by Cairn.
 */
export const s3EncryptionSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sse-s3') }),
  z.strictObject({ kind: z.literal('sse-kms'), keyId: z.string().min(1, 'must name the KMS key (id, alias or ARN)') }),
]);

export type S3Encryption = z.output<typeof s3EncryptionSchema>;

/** The request parameters that ask for `encryption` (none when unset). */
export function encryptionParameters(encryption: S3Encryption | undefined): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
  if (encryption === undefined) return {};
  if (encryption.kind === 'sse-s3') return { ServerSideEncryption: 'AES256' };
  return { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: encryption.keyId };
}

/** What a write response says about encryption (S3 echoes it; some servers leave SSE-S3 out). */
export interface EchoedEncryption {
  readonly ServerSideEncryption?: string | undefined;
  readonly SSEKMSKeyId?: string | undefined;
}

/**
 * Refuses a write response that shows less encryption than asked: another algorithm, or another
 * KMS key. An answer that echoes nothing is accepted (radosgw does not echo SSE-S3; nothing to
 * check), and KMS where SSE-S3 was asked is more, not less. AWS echoes a key as its ARN, so a key
 * id or alias matches the ARN's last part.
 */
export function checkEchoedEncryption(encryption: S3Encryption | undefined, echoed: EchoedEncryption, operation: string, location: string): void {
  if (encryption === undefined || echoed.ServerSideEncryption === undefined) return;
  const algorithm = echoed.ServerSideEncryption;
  const asked = encryption.kind === 'sse-kms' ? 'aws:kms' : 'AES256';
  const strongerThanAsked = encryption.kind === 'sse-s3' && algorithm.startsWith('aws:kms');
  if (algorithm !== asked && !strongerThanAsked && !(encryption.kind === 'sse-kms' && algorithm === 'aws:kms:dsse')) {
    throw encryptionRefused(operation, location, `it was asked for ${asked} (${encryption.kind}) but answered ServerSideEncryption: ${algorithm}`);
  }
  if (encryption.kind === 'sse-kms' && echoed.SSEKMSKeyId !== undefined && !sameKmsKey(encryption.keyId, echoed.SSEKMSKeyId)) {
    throw encryptionRefused(operation, location, `it was asked for the KMS key ${encryption.keyId} but answered SSEKMSKeyId: ${echoed.SSEKMSKeyId}`);
  }
}

function sameKmsKey(asked: string, echoed: string): boolean {
  if (asked === echoed) return true;
  // arn:aws:kms:region:account:key/<id> or …:alias/<name>: the configured id or alias is its tail.
  return echoed.endsWith(`:${asked}`) || echoed.endsWith(`/${asked}`) || (asked.startsWith('alias/') && echoed.endsWith(`:${asked}`));
}

function encryptionRefused(operation: string, location: string, what: string): CairnError {
  return new CairnError(
    'CAIRN_STORAGE_UNSUPPORTED',
    `[cairn] [s3] ${operation} at ${location}: S3 did not encrypt as configured: ${what}. The object may be stored with weaker encryption than "s3.storage.encryption" asks; ` +
      'check that the endpoint supports that encryption and the key, or change the setting.',
    { path: 's3.storage.encryption', details: { asked: what } },
  );
}
