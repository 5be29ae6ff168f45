import { z } from 'zod';

/** The first member of every backup archive: what the archive holds, each member with its digest. */
export const backupManifestName = 'cairn-backup.json';

/** The restored config's name, beside the data directory it names as `./cairn-data`. */
export const backupConfigName = 'cairn.config.yaml';

/** Members under this prefix are the data directory's files, at their default places in it. */
export const backupDataPrefix = 'data/';

/** Members under this prefix are storage objects, named by their key (restored through the seam). */
export const backupStoragePrefix = `${backupDataPrefix}storage/`;

/**
 * A member path is relative, made of plain segments, and either the config or under `data/`: a
 * manifest naming `../x`, `/etc/x` or `data/./x` is refused before anything is written.
 */
const memberPath = z
  .string()
  .min(1)
  .max(4_096)
  .refine(
    (path) =>
      path === backupConfigName ||
      (path.startsWith(backupDataPrefix) &&
        path
          .slice(backupDataPrefix.length)
          .split('/')
          .every((segment) => segment !== '' && segment !== '.' && segment !== '..' && !/[\\\0]/.test(segment))),
    {
      error: `must be ${backupConfigName} or a relative path under ${backupDataPrefix} without empty, . or .. segments`,
    },
  );

export const backupMemberSchema = z.strictObject({
  path: memberPath,
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  bytes: z.int().min(0),
  /** Permission bits to restore (keys are 0600, anchor receipts 0444). */
  mode: z.int().min(0).max(0o777),
});

/**
 * Data a server keeps outside its data directory that the backup did NOT copy: an S3 storage
 * bucket, an S3 Object Lock anchor. Named so that nobody mistakes the archive for a copy of them;
 * the restored config points at the same bucket and prefix, which must still hold them.
 */
export const backupNotCopiedSchema = z.strictObject({
  /** The config option the data belongs to (`storage`, `anchors[1]`). */
  option: z.string().min(1),
  kind: z.string().min(1),
  /** Where it is: `s3://bucket/prefix/` and the endpoint when one is set. */
  location: z.string().min(1),
  /** What the operator must do about it, in a sentence. */
  note: z.string().min(1),
});

export const backupManifestSchema = z.strictObject({
  format: z.literal('cairn.backup/v1'),
  createdAt: z.iso.datetime(),
  /** The signing key in the archive: the key verifiers pin, unchanged by a restore. */
  signingKeyId: z.string().min(1),
  members: z.array(backupMemberSchema),
  /** What the archive does not hold (absent in archives of servers whose data is all local). */
  notCopied: z.array(backupNotCopiedSchema).optional(),
});

export type BackupMember = z.output<typeof backupMemberSchema>;
export type BackupNotCopied = z.output<typeof backupNotCopiedSchema>;
export type BackupManifest = z.output<typeof backupManifestSchema>;
