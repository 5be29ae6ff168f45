import {
  GetBucketEncryptionCommand,
  GetBucketVersioningCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadBucketCommand,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { isCairnError } from '@cairn/protocol';
import type { AnchorConfig, StorageConfig } from '../config/server-config-schema.ts';

type S3Storage = Extract<StorageConfig, { kind: 's3' }>;
type S3Anchor = Extract<AnchorConfig, { kind: 's3-object-lock' }>;
type S3Location = S3Storage | S3Anchor;

/** `s3://bucket/prefix/ at endpoint`, as every finding names its place. */
export function describeLocation(location: S3Location): string {
  const prefix = location.prefix === '' || location.prefix.endsWith('/') ? location.prefix : `${location.prefix}/`;
  return `s3://${location.bucket}/${prefix}${location.endpoint ? ` at ${location.endpoint}` : ''}`;
}

/**
 * A client for one check: the location's endpoint, region and path style, credentials from the
 * SDK's default chain, and ONE attempt per request (a doctor reports a failure; it does not wait
 * out the seams' retries against an endpoint that does not answer).
 */
function clientFor(location: S3Location): S3Client {
  return new S3Client({
    ...(location.region ? { region: location.region } : {}),
    ...(location.endpoint ? { endpoint: location.endpoint } : {}),
    forcePathStyle: location.forcePathStyle,
    maxAttempts: 1,
  });
}

/** What S3 answered, for a finding's detail: status and error name, or the network error. */
function answered(error: unknown): { status?: number; name: string; text: string } {
  const { name = 'Error', message = '', $metadata } = (error ?? {}) as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = $metadata?.httpStatusCode;
  const text = status !== undefined ? `S3 answered ${status} ${name}` : `no answer (${name}${message && message !== name ? `: ${message}` : ''})`;
  return status === undefined ? { name, text } : { status, name, text };
}

/** The fix for a bucket that did not answer HeadBucket, from what went wrong. */
function reachFix(option: string, error: ReturnType<typeof answered>): string {
  if (error.status === undefined)
    return `the endpoint did not answer: check ${option}.endpoint (and ${option}.region), that this machine can reach it (network, DNS, proxy), and try again`;
  if (error.status === 404)
    return `the bucket does not exist there: create it, or fix ${option}.bucket, ${option}.region or ${option}.endpoint (Cairn never creates a bucket)`;
  if (error.status === 403)
    return `the credentials were refused: give the identity the SDK finds (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the role) s3:ListBucket on the bucket, or fix the keys`;
  if (error.status === 301 || error.status === 400) return `the bucket lives in another region: set ${option}.region to the bucket's`;
  return `check ${option} (bucket, region, endpoint) and the endpoint's health`;
}

/** HeadBucket: the one check everything else needs. */
async function reachable(client: S3Client, location: S3Location, option: string, check: string, note: Note): Promise<boolean> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: location.bucket }));
    note(check, true, `${describeLocation(location)} answers`);
    return true;
  } catch (error) {
    const what = answered(error);
    note(check, false, `${describeLocation(location)}: ${what.text}`, reachFix(option, what));
    return false;
  }
}

type Note = (check: string, ok: boolean, detail: string, fix?: string) => void;

/**
 * S3 storage: the bucket answers (HeadBucket); conditional writes are enforced (the storage's own
 * probe: a second if-absent put of one key must be refused, or two writers could overwrite each
 * other); and objects are encrypted (the setting, or the bucket's default, read with
 * GetBucketEncryption). A check that could not run is not reported as passed. Answers whether
 * the bucket answered.
 */
export async function diagnoseS3Storage(config: S3Storage, probe: (() => Promise<unknown>) | undefined, note: Note): Promise<boolean> {
  const client = clientFor(config);
  try {
    if (!(await reachable(client, config, 'storage', 'storage bucket', note))) return false;
    if (probe) {
      try {
        await probe();
        note(
          'conditional writes',
          true,
          `a second if-absent put of one key into ${describeLocation(config)} is refused (412): writers never overwrite each other`,
        );
      } catch (error) {
        // The probe also writes with the configured encryption: a refusal of that is not a lack of conditional writes.
        const unsupported = isCairnError(error, 'CAIRN_STORAGE_UNSUPPORTED');
        note(
          'conditional writes',
          false,
          isCairnError(error) ? `${error.code}: ${error.message}` : String(error),
          unsupported
            ? 'use a bucket and endpoint that enforce If-None-Match: * on PutObject: AWS S3 does in every bucket; on an S3-compatible server use an unversioned bucket, or another server'
            : 'the probe could not write under the prefix: follow the fix in the detail (permissions s3:PutObject, s3:GetObject, s3:DeleteObject on the prefix; the KMS key for storage.encryption)',
        );
      }
    }
    let bucketDefault: string;
    try {
      const encryption = await client.send(new GetBucketEncryptionCommand({ Bucket: config.bucket }));
      const rule = encryption.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault;
      bucketDefault = rule?.SSEAlgorithm ? `${rule.SSEAlgorithm}${rule.KMSMasterKeyID ? ` with key ${rule.KMSMasterKeyID}` : ''}` : 'none';
    } catch (error) {
      const what = answered(error);
      bucketDefault = what.name === 'ServerSideEncryptionConfigurationNotFoundError' ? 'none' : `unknown (${what.text})`;
    }
    if (config.encryption)
      note(
        'storage encryption',
        true,
        `every object is written with ${config.encryption.kind === 'sse-kms' ? `SSE-KMS, key ${config.encryption.keyId}` : 'SSE-S3'} (storage.encryption); bucket default: ${bucketDefault}`,
      );
    else if (bucketDefault !== 'none' && !bucketDefault.startsWith('unknown'))
      note('storage encryption', true, `storage.encryption is unset: objects get the bucket's default encryption, ${bucketDefault}`);
    else
      note(
        'storage encryption',
        false,
        `storage.encryption is unset and the bucket's default encryption is ${bucketDefault}: objects may be stored unencrypted`,
        'set storage.encryption to { kind: sse-s3 } or { kind: sse-kms, keyId: <key> }, or give the bucket a default encryption (PutBucketEncryption; s3:GetEncryptionConfiguration lets doctor read it)',
      );
    return true;
  } finally {
    client.destroy();
  }
}

/**
 * An S3 Object Lock anchor: the bucket answers; Object Lock is enabled on it
 * (GetObjectLockConfiguration); versioning is on (GetBucketVersioning: Object Lock needs it, and
 * a locked version must outlive a newer put); and a retention that works: an anchored checkpoint
 * in the prefix carries a live COMPLIANCE retention (GetObjectRetention). Doctor writes nothing
 * there: a test object would stay locked for the whole retention, so with nothing anchored yet the
 * retention is reported as not checked.
 */
export async function diagnoseS3Anchor(config: S3Anchor, index: number, note: Note): Promise<void> {
  const option = `anchors[${index}]`;
  const client = clientFor(config);
  try {
    if (!(await reachable(client, config, option, `${option} bucket`, note))) return;
    let locked = false;
    try {
      const lock = await client.send(new GetObjectLockConfigurationCommand({ Bucket: config.bucket }));
      locked = lock.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
      const rule = lock.ObjectLockConfiguration?.Rule?.DefaultRetention;
      note(
        `${option} object lock`,
        locked,
        locked
          ? `Object Lock is enabled on ${config.bucket}${rule ? ` (bucket default: ${rule.Mode} ${rule.Days ?? rule.Years} ${rule.Days ? 'days' : 'years'})` : ''}; each checkpoint is locked in COMPLIANCE mode for ${config.retentionDays} days`
          : `Object Lock is not enabled on ${config.bucket}: anchored checkpoints could be deleted or overwritten`,
        `point ${option}.bucket at a bucket created with Object Lock enabled (aws s3api create-bucket --object-lock-enabled-for-bucket), or kind: local`,
      );
    } catch (error) {
      const what = answered(error);
      note(
        `${option} object lock`,
        false,
        what.name === 'ObjectLockConfigurationNotFoundError'
          ? `Object Lock is not enabled on ${config.bucket}: anchored checkpoints could be deleted or overwritten`
          : `cannot read the Object Lock configuration of ${config.bucket}: ${what.text}`,
        what.name === 'ObjectLockConfigurationNotFoundError'
          ? `point ${option}.bucket at a bucket created with Object Lock enabled (aws s3api create-bucket --object-lock-enabled-for-bucket); an existing bucket cannot be trusted as an anchor without it`
          : 'give the identity s3:GetBucketObjectLockConfiguration on the bucket',
      );
    }
    try {
      const versioning = await client.send(new GetBucketVersioningCommand({ Bucket: config.bucket }));
      const on = versioning.Status === 'Enabled';
      note(
        `${option} versioning`,
        on,
        on ? `versioning is on: a later put adds a version and never replaces a locked one` : `versioning is ${versioning.Status ?? 'off'} on ${config.bucket}`,
        `turn versioning on (Object Lock needs it): aws s3api put-bucket-versioning --bucket ${config.bucket} --versioning-configuration Status=Enabled`,
      );
    } catch (error) {
      note(
        `${option} versioning`,
        false,
        `cannot read the versioning of ${config.bucket}: ${answered(error).text}`,
        'give the identity s3:GetBucketVersioning on the bucket',
      );
    }
    if (locked) await anchoredRetention(client, config, option, note);
  } finally {
    client.destroy();
  }
}

/** The retention of one anchored checkpoint (the first version listed under the prefix), read back. */
async function anchoredRetention(client: S3Client, config: S3Anchor, option: string, note: Note): Promise<void> {
  const check = `${option} retention`;
  try {
    const listed = await client.send(new ListObjectVersionsCommand({ Bucket: config.bucket, Prefix: config.prefix, MaxKeys: 1 }));
    const version = listed.Versions?.[0];
    if (!version?.Key || !version.VersionId) {
      note(
        check,
        true,
        `not checked: nothing is anchored in ${describeLocation(config)} yet (each checkpoint will be locked COMPLIANCE for ${config.retentionDays} days)`,
      );
      return;
    }
    // A version without a lock answers 404 (AWS: NoSuchObjectLockConfiguration; radosgw:
    // ObjectLockConfigurationNotFoundError): not locked, which is the finding, not a failure to read.
    const retention = await client.send(new GetObjectRetentionCommand({ Bucket: config.bucket, Key: version.Key, VersionId: version.VersionId })).then(
      (answer) => answer.Retention,
      (error: unknown) => {
        const what = answered(error);
        if (what.status === 404 && /ObjectLockConfiguration/.test(what.name)) return undefined;
        throw error;
      },
    );
    const until = retention?.RetainUntilDate;
    const live = retention?.Mode === 'COMPLIANCE' && until !== undefined && until.getTime() > Date.now();
    note(
      check,
      live,
      live
        ? `${version.Key} (version ${version.VersionId}) is locked COMPLIANCE until ${until!.toISOString()}`
        : `${version.Key} (version ${version.VersionId}) is ${retention?.Mode ? `locked ${retention.Mode} until ${until?.toISOString()}` : 'not locked'}: it can be deleted or overwritten`,
      `anchored checkpoints must be locked COMPLIANCE: check that nothing else writes under ${option}.prefix, and that the identity has s3:PutObjectRetention`,
    );
  } catch (error) {
    note(
      check,
      false,
      `cannot read the retention of an anchored checkpoint: ${answered(error).text}`,
      'give the identity s3:ListBucketVersions and s3:GetObjectRetention on the bucket',
    );
  }
}
