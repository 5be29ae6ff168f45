import { loadServerConfig } from '../config/load-server-config.ts';
import { configOption, json, program, say } from './cli-program.ts';

/** `cairn backup <file>` and `cairn restore <file> [directory]` (their code loaded when they run). */
export function addBackupCommands(): void {
  program
    .command('backup')
    .argument('<file>', 'the archive to write (a new file; it holds the keys, so it is 0600)')
    .description('copy the database, storage, anchors, keys, tokens and config into one archive, while the server runs')
    .action(async (file: string) => {
      const { backupServer } = await import('../backup/backup-server.ts');
      const result = await backupServer(loadServerConfig(configOption()), file);
      say(
        json()
          ? JSON.stringify(result)
          : `backed up ${result.members} files (${result.bytes} bytes) to ${result.file}; signing key ${result.signingKeyId}\nkeep it as safe as the keys: it holds them`,
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
          : `restored ${result.members} files: ${result.configFile}, data in ${result.dataDirectory}; signing key ${result.signingKeyId}\nnext: cairn doctor --config ${result.configFile}`,
      );
    });
}
