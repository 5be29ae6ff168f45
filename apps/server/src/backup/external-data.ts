import type { LoadedServerConfig } from '../config/load-server-config.ts';
import type { BackupNotCopied } from './backup-manifest.ts';

/** `s3://bucket/prefix/` and the endpoint, as messages name an S3 location. */
function s3Location(config: { readonly bucket: string; readonly prefix: string; readonly endpoint?: string | undefined }): string {
  const prefix = config.prefix === '' || config.prefix.endsWith('/') ? config.prefix : `${config.prefix}/`;
  return `s3://${config.bucket}/${prefix}${config.endpoint ? ` at ${config.endpoint}` : ''}`;
}

/**
 * The data a server's config keeps outside its data directory, which `cairn backup` does not copy:
 * an S3 bucket is backed up by S3's own means (versioning, replication, AWS Backup), never by
 * reading every object through one server into one archive. The backup names each in its output
 * and manifest; a restore names them again, since the restored server reads them where they are.
 */
export function externalData({ config }: LoadedServerConfig): BackupNotCopied[] {
  const found: BackupNotCopied[] = [];
  if (config.storage.kind === 's3')
    found.push({
      option: 'storage',
      kind: 's3',
      location: s3Location(config.storage),
      note: 'the storage objects (workspace snapshots, manifests, patches, logs) stay in the bucket and are NOT in this archive: back the bucket up with S3 versioning, replication or AWS Backup; a restored server reads them from the same bucket and prefix',
    });
  for (const [index, anchor] of config.anchors.entries())
    if (anchor.kind === 's3-object-lock')
      found.push({
        option: `anchors[${index}]`,
        kind: anchor.kind,
        location: s3Location(anchor),
        note: 'the anchored checkpoints stay in the Object Lock bucket (locked, nobody can delete them before their retention ends) and are NOT in this archive; a restored server and its verifiers read them there',
      });
  return found;
}
