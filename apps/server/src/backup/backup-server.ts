import { mkdir, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, isAbsolute, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import Database from 'better-sqlite3';
import { createLocalStorageProvider } from '@cairn/local';
import { CairnError, sha256Digest } from '@cairn/protocol';
import { writeTar, type TarEntry } from '@cairn/protocol/workspace';
import { stringify as stringifyYaml } from 'yaml';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import {
  backupConfigName,
  backupDataPrefix,
  backupManifestName,
  backupStoragePrefix,
  type BackupManifest,
  type BackupMember,
  type BackupNotCopied,
} from './backup-manifest.ts';
import { serverSigningKey } from '../capabilities/evidence/server-trust.ts';
import { externalData } from './external-data.ts';

/** What `backupServer` wrote. */
export interface BackupResult {
  readonly file: string;
  readonly members: number;
  readonly bytes: number;
  readonly signingKeyId: string;
  /** Data the config keeps elsewhere (S3) that the archive does not hold, each named with what to do. */
  readonly notCopied: readonly BackupNotCopied[];
}

/**
 * Writes one gzip'd tar at `file` (0600: it holds the keys) with a consistent copy of a server —
 * which may be running — and a manifest of every member's sha256. The order matters:
 * 1. anchors first: the engine records a checkpoint in the database before it anchors it, so an
 *    anchor copied earlier holds only checkpoints the database copy knows (a prefix of what a
 *    later copy would hold). Copied after, it could hold a checkpoint of entries the database copy
 *    lacks, and the restored log, growing differently, would conflict with it at that size;
 * 2. the webhook database, then the engine's, then the trigger deliveries', each through SQLite's
 *    online backup (a second connection; the WAL is read through SQLite, never copied as a raw
 *    file, so no committed transaction is half-copied). Webhooks first: their cursor names a
 *    position in the audit log, so copied before the log it never points past the restored log's
 *    end (events after it are delivered again, at least once, rather than never). Trigger
 *    deliveries last: a delivery is claimed before its run is submitted, so every run the engine's
 *    copy holds has its delivery in this copy, and a replay of it is refused after a restore (a
 *    delivery claimed meanwhile is refused too, though its run is not restored);
 * 3. storage after the database: objects are content-addressed and immutable, and the engine
 *    stores one before a database row names it, so every object the database copy names is there;
 *    objects written meanwhile are extra and harmless;
 * 4. keys, tokens, rfc3161 anchors' TSA certificates, templates' run specs, and the config
 *    rewritten with every path at its default under `./cairn-data`.
 * S3 storage and S3 Object Lock anchors are not copied, nor a PostgreSQL engine state with the
 * server's tokens, webhooks and trigger deliveries (the operator's database, backed up with `pg_dump` or base backups): they are named in the result and
 * the manifest (`notCopied`), with what to do, so that nobody takes the archive for a copy of them.
 * The live execution state and work folders are not copied: they belong to attempts in flight.
 */
export async function backupServer(loaded: LoadedServerConfig, file: string): Promise<BackupResult> {
  const { paths } = loaded;
  const postgres = loaded.config.engine.state.kind === 'postgres';
  const entries: (TarEntry & { kind: 'file' })[] = [];
  const members: BackupMember[] = [];
  const add = (path: string, content: Uint8Array, mode: number) => {
    entries.push({ kind: 'file', path, executable: false, content });
    members.push({ path, digest: sha256Digest(content), bytes: content.byteLength, mode: mode & 0o777 });
  };
  for (const [index, directory] of paths.anchors.entries()) {
    // An S3 Object Lock anchor has no directory: it is named in `notCopied`, not copied.
    if (directory === undefined) continue;
    for (const found of await filesUnder(directory))
      add(`${backupDataPrefix}${index === 0 ? 'anchor' : `anchor-${index}`}/${found.path}`, found.content, found.mode);
  }
  // A server that never started its webhook dispatcher has no webhook database yet. With PostgreSQL
  // the webhooks are in the database (named in `notCopied`): a webhooks.db left from before is not
  // what the server uses, and the archive does not pretend it is.
  if (!postgres && (await exists(paths.webhooks))) add(`${backupDataPrefix}webhooks.db`, await copyDatabase(paths.webhooks), 0o600);
  // PostgreSQL state is not a file of this server's: it is named in `notCopied` (`externalData`).
  if (loaded.config.engine.state.kind === 'sqlite') add(`${backupDataPrefix}cairn.db`, await copyDatabase(paths.database), 0o600);
  // After the engine's (see 2. above). A server that never had a trigger has no triggers.db; with
  // PostgreSQL the deliveries already handled are in the database, like the webhooks.
  if (!postgres && (await exists(paths.triggers))) add(`${backupDataPrefix}triggers.db`, await copyDatabase(paths.triggers), 0o600);
  // Through the storage seam, not its files: the archive names objects by key, whatever the layout.
  // S3 storage is not copied (see `externalData`): the archive says so rather than hold a part of it.
  if (paths.storage !== undefined) {
    const storage = createLocalStorageProvider({ root: paths.storage });
    for (let cursor: string | null | undefined; cursor !== null;) {
      const page = await storage.list(cursor === undefined ? {} : { cursor });
      for (const key of page.keys) {
        const content = await storage.get(key);
        if (content !== null) add(`${backupStoragePrefix}${key}`, content, 0o644);
      }
      cursor = page.cursor;
    }
  }
  // Key files travel with the data; a KMS key stays in KMS (the restored config names it).
  const keyFiles: (readonly [string, string])[] = [
    ...(loaded.config.signer.kind === 'local' ? [['keys/signing.pem', paths.signingKey] as const] : []),
    ...(paths.previousSigningKey === undefined ? [] : [[previousSigningKeyMember, paths.previousSigningKey] as const]),
    ...(loaded.config.cipher.kind === 'local' ? [['keys/cipher.key', paths.cipherKey] as const] : []),
    // With PostgreSQL the tokens are in the database (named in `notCopied`), not this file.
    ...(postgres ? [] : [['keys/tokens.json', paths.tokens] as const]),
  ];
  for (const [path, source] of keyFiles) {
    const content = await readFile(source).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' && path === 'keys/tokens.json') return null;
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `Cannot read ${source} for the backup: ${error.message}. Run \`cairn doctor\`; the server's keys must be readable.`,
        { path: source, cause: error },
      );
    });
    if (content !== null) add(`${backupDataPrefix}${path}`, content, 0o600);
  }
  // An rfc3161 anchor's TSA certificate may live anywhere the config names: the restored server
  // needs it to start (and its verifiers to trust the tokens), so it travels with the keys.
  for (const [index, source] of paths.tsaCertificates.entries()) {
    if (source === undefined) continue;
    const content = await readFile(source).catch((error: NodeJS.ErrnoException) => {
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `Cannot read ${source} (config.anchors[${index}].trustedCertificate) for the backup: ${error.message}. Run \`cairn doctor\`; the TSA certificate must be readable.`,
        { path: source, cause: error },
      );
    });
    add(`${backupDataPrefix}${tsaCertificateMember(index)}`, content, 0o644);
  }
  // A template's run spec is a file the config names (beside it, most often), read when the server
  // starts: without it the restored server would not start, so it travels too.
  for (const [name, template] of Object.entries(loaded.config.templates)) {
    const source = isAbsolute(template.spec) ? template.spec : join(dirname(loaded.file), template.spec);
    const content = await readFile(source).catch((error: NodeJS.ErrnoException) => {
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `Cannot read ${source} (config.templates.${name}.spec) for the backup: ${error.message}. Run \`cairn doctor\`; the template's run spec must be readable.`,
        { path: `config.templates.${name}.spec`, cause: error },
      );
    });
    add(`${backupDataPrefix}${templateSpecMember(name, template.spec)}`, content, 0o644);
  }
  add(backupConfigName, new TextEncoder().encode(portableConfig(loaded)), 0o644);
  const signingKeyId = (await serverSigningKey(loaded)).keyId;
  const notCopied = externalData(loaded);
  const manifest: BackupManifest = {
    format: 'cairn.backup/v1',
    createdAt: new Date().toISOString(),
    signingKeyId,
    members,
    ...(notCopied.length > 0 ? { notCopied } : {}),
  };
  const tar = writeTar([
    { kind: 'file', path: backupManifestName, executable: false, content: new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`) },
    ...entries,
  ]);
  const archive = await promisify(gzip)(tar);
  await writeNewFile(file, archive);
  return { file, members: members.length, bytes: archive.byteLength, signingKeyId, notCopied };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A database as SQLite's online backup API copies it, read back from a private temporary file. */
async function copyDatabase(path: string): Promise<Uint8Array> {
  let database: Database.Database;
  try {
    // A writer holding the database makes the copy wait up to 5 s rather than fail at once.
    database = new Database(path, { fileMustExist: true, timeout: 5_000 });
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `Cannot open the database ${path} to back it up: ${(error as Error).message}. Check dataDirectory in the config (--config).`,
      { path, cause: error },
    );
  }
  const folder = await mkdtemp(join(tmpdir(), 'cairn-backup-'));
  try {
    await database.backup(join(folder, 'copy.db'));
    return await readFile(join(folder, 'copy.db'));
  } finally {
    database.close();
    await rm(folder, { recursive: true, force: true });
  }
}

/** Every regular file under `root` (none when it does not exist), relative path, bytes and mode. */
async function filesUnder(root: string): Promise<{ path: string; content: Uint8Array; mode: number }[]> {
  const listed = await readdir(root, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const found: { path: string; content: Uint8Array; mode: number }[] = [];
  for (const entry of listed) {
    // The local seams' unpublished temporary files (`.cairn\tmp-…`) have a backslash in their
    // name, which no published one has: they are half-written, never part of the copy.
    if (!entry.isFile() || entry.name.includes('\\')) continue;
    const absolute = join(entry.parentPath, entry.name);
    try {
      const [content, status] = await Promise.all([readFile(absolute), stat(absolute)]);
      found.push({ path: relative(root, absolute).split('\\').join('/'), content, mode: status.mode });
    } catch (error) {
      // Removed since the listing: not part of the copy.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return found.sort((left, right) => (left.path < right.path ? -1 : 1));
}

/** Where the old key file of a configured rotation (`previousSigner` of kind local) is kept in the archive. */
const previousSigningKeyMember = 'keys/previous-signing.pem';

/** Where an rfc3161 anchor's TSA certificate is kept in the archive, under the data directory. */
function tsaCertificateMember(index: number): string {
  return `keys/tsa-${index}.pem`;
}

/** Where a template's run spec is kept in the archive, under the data directory (its extension kept). */
function templateSpecMember(name: string, spec: string): string {
  return `templates/${name}${extname(spec) || '.yaml'}`;
}

/**
 * The config as it is in effect, with every local seam's path at its default under `./cairn-data`;
 * an S3 seam keeps its whole config (bucket, prefix, endpoint…): the restored server reads the
 * same bucket, whose objects the archive does not hold. The files it names elsewhere (TSA
 * certificates, templates' run specs) are named where the archive restores them.
 */
function portableConfig({ config }: LoadedServerConfig): string {
  // A local executor's work root is this machine's; a fargate executor's options are all portable.
  const executor = config.executor.kind === 'local' ? (({ workRoot: _workRoot, ...rest }) => rest)(config.executor) : config.executor;
  const portable = {
    ...config,
    dataDirectory: './cairn-data',
    storage: config.storage.kind === 'local' ? { kind: config.storage.kind } : config.storage,
    // A key file is restored under the data directory, where the default path finds it; a KMS
    // key's settings (key id, region, endpoint: no secret) are the key.
    signer: config.signer.kind === 'local' ? { kind: config.signer.kind } : config.signer,
    ...(config.previousSigner === undefined
      ? {}
      : {
          previousSigner:
            config.previousSigner.kind === 'local' ? { kind: 'local', keyFile: `./cairn-data/${previousSigningKeyMember}` } : config.previousSigner,
        }),
    cipher: config.cipher.kind === 'local' ? { kind: config.cipher.kind } : config.cipher,
    anchors: config.anchors.map((anchor, index) =>
      anchor.kind === 'local'
        ? { kind: anchor.kind }
        : anchor.kind === 'rfc3161'
          ? { ...anchor, trustedCertificate: `./cairn-data/${tsaCertificateMember(index)}` }
          : anchor,
    ),
    executor,
    templates: Object.fromEntries(
      Object.entries(config.templates).map(([name, template]) => [name, { ...template, spec: `./cairn-data/${templateSpecMember(name, template.spec)}` }]),
    ),
    // The SQLite file is restored at its default place in the data directory; a PostgreSQL state
    // keeps its settings: the restored server reads the same database.
    engine: config.engine.state.kind === 'sqlite' ? { ...config.engine, state: { kind: 'sqlite' } } : config.engine,
  };
  return `# Cairn server configuration, restored by \`cairn restore\`. Paths are relative to this file.\n${stringifyYaml(portable)}`;
}

/**
 * Writes the archive as a new file, making its folder (0700: the archive holds the keys) when it
 * does not exist yet; a file that cannot be written is bad input naming it and why.
 */
async function writeNewFile(file: string, bytes: Uint8Array): Promise<void> {
  const unwritable = (error: unknown) =>
    new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Cannot write the backup to ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. Name a file in a folder you can write to.`,
      { path: file, cause: error },
    );
  await mkdir(dirname(file), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw (error as NodeJS.ErrnoException).code === 'EEXIST' ? unwritable(Object.assign(new Error('not a folder'), { code: 'ENOTDIR' })) : unwritable(error);
  });
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new CairnError('CAIRN_CONFIG_INVALID', `${file} exists already: a backup never overwrites a file. Name a new file, or move the old one away.`, {
        path: file,
      });
    throw unwritable(error);
  }
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
