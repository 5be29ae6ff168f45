import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { createLocalStorageProvider } from '@cairn/local';
import { CairnError, sha256Digest } from '@cairn/protocol';
import { readTar } from '@cairn/protocol/workspace';
import { configFileNames } from '../config/config-file-names.ts';
import {
  backupConfigName,
  backupDataPrefix,
  backupManifestName,
  backupManifestSchema,
  backupStoragePrefix,
  type BackupManifest,
  type BackupNotCopied,
} from './backup-manifest.ts';

/** The data directory a restore writes, beside the config that names it. */
const restoredDataName = 'cairn-data';

/** What `restoreBackup` wrote. */
export interface RestoreResult {
  readonly configFile: string;
  readonly dataDirectory: string;
  readonly members: number;
  /** The signing key, unchanged: evidence exported before the backup verifies with the same pin. */
  readonly signingKeyId: string;
  /**
   * Data the archive names but does not hold (S3 storage, S3 Object Lock anchors): the restored
   * config points at the same buckets, which must still hold it (`cairn doctor` checks they answer).
   */
  readonly notCopied: readonly BackupNotCopied[];
}

/**
 * Restores a `cairn backup` archive into `directory`: `cairn.config.yaml` and `./cairn-data` beside
 * it. Nothing is written until every member's sha256 matches the manifest (CAIRN_DIGEST_MISMATCH
 * names the member) and the archive holds exactly what its manifest lists. An existing config or
 * data directory there is refused, never written over. The data is written into a temporary folder
 * and renamed into place at the end, so a restore that fails leaves nothing half-restored; file
 * modes are the archive's (keys 0600).
 */
export async function restoreBackup(file: string, directory: string): Promise<RestoreResult> {
  const { manifest, contents } = await readBackup(file);
  const base = resolve(directory);
  const dataDirectory = join(base, restoredDataName);
  for (const existing of [...configFileNames.map((name) => join(base, name)), dataDirectory]) {
    if (existsSync(existing))
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `${existing} exists already: a restore never writes over a server's config or data. Restore into an empty directory, or move ${existing} away first.`,
        { path: existing },
      );
  }
  await mkdir(base, { recursive: true });
  const staging = join(base, `.${restoredDataName}.restoring-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  // Passable but not listable by others, as `cairn init` makes it: sandboxes reach their workspaces under it.
  await mkdir(staging, { mode: 0o711 });
  try {
    const storage = createLocalStorageProvider({ root: join(staging, 'storage') });
    for (const member of manifest.members) {
      const content = contents.get(member.path)!;
      if (member.path.startsWith(backupStoragePrefix)) {
        await storage.put(member.path.slice(backupStoragePrefix.length), content);
      } else if (member.path !== backupConfigName) {
        const target = join(staging, member.path.slice(backupDataPrefix.length));
        await mkdir(dirname(target), { recursive: true, mode: member.path.startsWith(`${backupDataPrefix}keys/`) ? 0o700 : 0o755 });
        await writeFile(target, content, { flag: 'wx', mode: 0o600 });
        // After writing: the mode of a read-only anchor receipt would refuse the write itself, and
        // the umask may have narrowed the one given to open.
        await chmod(target, member.mode);
      }
    }
    await rename(staging, dataDirectory);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const configFile = join(base, backupConfigName);
  await writeFile(configFile, contents.get(backupConfigName)!, { flag: 'wx', mode: 0o644 });
  return { configFile, dataDirectory, members: manifest.members.length, signingKeyId: manifest.signingKeyId, notCopied: manifest.notCopied ?? [] };
}

/** The manifest and every member's bytes, each checked against its digest. */
async function readBackup(file: string): Promise<{ manifest: BackupManifest; contents: Map<string, Uint8Array> }> {
  const notABackup = (problem: string, cause?: unknown): CairnError =>
    new CairnError('CAIRN_PAYLOAD_INVALID', `${file} is not a usable cairn backup: ${problem}. Restore from a file \`cairn backup\` wrote, copied whole.`, {
      path: file,
      ...(cause === undefined ? {} : { cause }),
    });
  let members;
  try {
    members = readTar(new Uint8Array(await promisify(gunzip)(await readFile(file))));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new CairnError('CAIRN_NOT_FOUND', `There is no backup file ${file}; name the file \`cairn backup\` wrote.`, { path: file });
    throw notABackup((error as Error).message, error);
  }
  const first = members[0];
  if (first?.kind !== 'file' || first.path !== backupManifestName) throw notABackup(`its first member must be ${backupManifestName}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(first.content));
  } catch (error) {
    throw notABackup(`${backupManifestName} is not JSON`, error);
  }
  const parsed = backupManifestSchema.safeParse(raw);
  if (!parsed.success)
    throw notABackup(
      `${backupManifestName} is not a cairn.backup/v1 manifest (${parsed.error.issues.map((issue) => `${[backupManifestName, ...issue.path].join('.')} ${issue.message}`).join('; ')})`,
    );
  const manifest = parsed.data;
  const contents = new Map<string, Uint8Array>();
  for (const member of members.slice(1)) {
    if (member.kind !== 'file') throw notABackup(`it holds ${JSON.stringify(member.path)}, a ${member.kind}; a backup holds files only`);
    if (contents.has(member.path)) throw notABackup(`it holds ${JSON.stringify(member.path)} twice`);
    contents.set(member.path, member.content);
  }
  const listed = new Set<string>();
  for (const member of manifest.members) {
    listed.add(member.path);
    const content = contents.get(member.path);
    if (content === undefined) throw notABackup(`its manifest lists ${JSON.stringify(member.path)}, which it does not hold (truncated?)`);
    const digest = sha256Digest(content);
    if (digest !== member.digest || content.byteLength !== member.bytes) {
      throw new CairnError(
        'CAIRN_DIGEST_MISMATCH',
        `The member ${JSON.stringify(member.path)} of ${file} hashes to ${digest}, not ${member.digest} as its manifest says: the archive was altered or corrupted. Nothing was restored; use another copy of the backup.`,
        { path: member.path },
      );
    }
  }
  for (const path of contents.keys()) if (!listed.has(path)) throw notABackup(`it holds ${JSON.stringify(path)}, which its manifest does not list`);
  if (!listed.has(backupConfigName)) throw notABackup(`its manifest lists no ${backupConfigName}`);
  return { manifest, contents };
}
