import type { BackupNotCopied } from '../backup/backup-manifest.ts';
import { configOption, json, program, say } from './cli-program.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

/** One line per piece of data kept outside the data directory (S3), saying plainly what happened to it. */
function notCopiedLines(notCopied: readonly BackupNotCopied[], what: string): string {
  return notCopied.map((external) => `\n${what}: ${external.option} (${external.kind}) ${external.location}: ${external.note}`).join('');
}

/** What `cairn doctor` checks of the data named above, after a restore. */
function doctorChecks(notCopied: readonly BackupNotCopied[]): string {
  const checked = [
    ...(notCopied.some((external) => external.kind !== 'postgres') ? ['the buckets above answer'] : []),
    ...(notCopied.some((external) => external.kind === 'postgres') ? ['the database above answers and holds the engine state'] : []),
  ];
  return checked.length === 0 ? '' : ` (it checks that ${checked.join(' and that ')})`;
}

/** `cairn backup <file>` and `cairn restore <file> [directory]` (their code loaded when they run). */
export function addBackupCommands(): void {
  program
    .command('backup')
    .argument('<file>', 'the archive to write (a new file; it holds the keys, so it is 0600)')
    .description(
      'copy the database, local storage and anchors, keys, tokens and config into one archive, while the server runs (S3 buckets and a PostgreSQL engine state are named, not copied)',
    )
    .action(async (file: string) => {
      const { backupServer } = await import('../backup/backup-server.ts');
      const result = await backupServer(await loadServerConfigLazily(configOption()), file);
      say(
        json()
          ? JSON.stringify(result)
          : `backed up ${result.members} files (${result.bytes} bytes) to ${result.file}; signing key ${result.signingKeyId}\nkeep it as safe as the keys: it holds them${notCopiedLines(result.notCopied, 'NOT copied')}`,
      );
    });
  program
    .command('restore')
    .argument('<file>', 'an archive `cairn backup` wrote')
    .argument('[directory]', 'where to write cairn.config.yaml and cairn-data (must not hold them yet)', '.')
    .description('check every digest of a backup, then restore it into a new directory')
    .action(async (file: string, directory: string) => {
      const { restoreBackup } = await import('../backup/restore-backup.ts');
      const result = await restoreBackup(file, directory);
      say(
        json()
          ? JSON.stringify(result)
          : `restored ${result.members} files: ${result.configFile}, data in ${result.dataDirectory}; signing key ${result.signingKeyId}${notCopiedLines(result.notCopied, 'NOT restored (not in the archive; the config still points at it)')}\nnext: cairn doctor --config ${result.configFile}${doctorChecks(result.notCopied)}`,
      );
    });
}
