import type { LoadedServerConfig } from '../config/load-server-config.ts';
import type { BackupNotCopied } from './backup-manifest.ts';

/** `s3://bucket/prefix/` and the endpoint, as messages name an S3 location. */
function s3Location(config: { readonly bucket: string; readonly prefix: string; readonly endpoint?: string | undefined }): string {
  const prefix = config.prefix === '' || config.prefix.endsWith('/') ? config.prefix : `${config.prefix}/`;
  return `s3://${config.bucket}/${prefix}${config.endpoint ? ` at ${config.endpoint}` : ''}`;
}

type PostgresState = Extract<LoadedServerConfig['config']['engine']['state'], { kind: 'postgres' }>;

/**
 * Where a PostgreSQL state store lives, as libpq resolves it (a field beats the connection string,
 * which beats `PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`), in words: host and port, database,
 * schema and user. Never the password, wherever it was given.
 */
export function postgresLocation(state: PostgresState, env: NodeJS.ProcessEnv = process.env): string {
  let url: URL | undefined;
  try {
    url = state.connectionString === undefined ? undefined : new URL(state.connectionString);
  } catch {
    // A libpq keyword string (`host=... dbname=...`) rather than a URL: its parts are not shown.
    url = undefined;
  }
  const fromUrl = (part: string | undefined) => (part === undefined || part === '' ? undefined : decodeURIComponent(part));
  const host = state.host ?? fromUrl(url?.hostname) ?? env['PGHOST'] ?? 'localhost';
  const port = state.port ?? (fromUrl(url?.port) === undefined ? undefined : Number(url!.port)) ?? (env['PGPORT'] ? Number(env['PGPORT']) : 5432);
  const user = state.user ?? fromUrl(url?.username) ?? env['PGUSER'] ?? env['USER'] ?? '';
  const database = state.database ?? fromUrl(url?.pathname.slice(1)) ?? env['PGDATABASE'] ?? user;
  const where = host.startsWith('/') ? `the unix socket in ${host} (port ${port})` : `${host}:${port}`;
  return `PostgreSQL at ${where}, database "${database}", schema "${state.schema}", user "${user}"`;
}

/**
 * The data a server's config keeps outside its data directory, which `cairn backup` does not copy:
 * an S3 bucket is backed up by S3's own means (versioning, replication, AWS Backup), never by
 * reading every object through one server into one archive. The backup names each in its output
 * and manifest; a restore names them again, since the restored server reads them where they are.
 */
export function externalData({ config }: LoadedServerConfig): BackupNotCopied[] {
  const found: BackupNotCopied[] = [];
  // The PostgreSQL database is the operator's: copying it through one server would be neither
  // consistent with its other writers' view nor restorable by PostgreSQL's own tools (ADR 0023).
  if (config.engine.state.kind === 'postgres')
    found.push({
      option: 'engine.state',
      kind: 'postgres',
      location: postgresLocation(config.engine.state),
      note: `the engine state (runs, items, attempts, the audit log and its checkpoints, secrets, schedules), with the server's API tokens and webhooks (endpoints, deliveries, the event cursor) and the trigger deliveries already handled (tables server_*), lives in that schema and is NOT in this archive: back it up with PostgreSQL's tools (pg_dump --format=custom --schema=${config.engine.state.schema}, or base backups with WAL archiving) at about the same time; a restored server reads it from the same database, so restore that first (pg_restore)`,
    });
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
