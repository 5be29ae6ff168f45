import { existsSync, renameSync } from 'node:fs';
import type { Logger } from '@cairn/core';
import { FileTokenStore } from './file-token-store.ts';
import type { PostgresTokenStore } from './store/postgres-token-store.ts';

/**
 * A token file left in the data directory (`cairn init` writes the operator's token there) moves
 * into PostgreSQL: its tokens are added (none whose id is there already, so a revoke in the
 * database stands) and the file is renamed `tokens.json.imported`, so that nobody takes it for
 * the tokens this server checks. Replicas starting together may both import: the rows are added
 * once, and a rename already done by the other is no error.
 */
export async function importTokenFile(file: string, tokens: PostgresTokenStore, logger?: Logger): Promise<void> {
  if (!existsSync(file)) return;
  const added = await tokens.import(new FileTokenStore(file).stored());
  try {
    renameSync(file, `${file}.imported`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  logger?.info({ file, added }, 'tokens: the token file was imported into PostgreSQL and renamed *.imported; tokens now live in the database');
}
