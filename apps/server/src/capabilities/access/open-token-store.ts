import type { LoadedServerConfig } from '../../config/load-server-config.ts';
import { FileTokenStore } from './file-token-store.ts';
import type { TokenStore } from './token-store.ts';

/**
 * The token store a config names, for a command that runs beside the server (`cairn token`): the
 * token file of the data directory, or, with `engine.state: {kind: postgres}`, the engine's
 * database (the tables made when missing, a token file left in the data directory imported).
 * `close()` it when done.
 */
export async function openTokenStore(loaded: LoadedServerConfig): Promise<TokenStore> {
  const state = loaded.config.engine.state;
  if (state.kind !== 'postgres') return new FileTokenStore(loaded.paths.tokens);
  const [{ ServerPostgres }, { PostgresTokenStore }, { importTokenFile }] = await Promise.all([
    import('../../store/postgres/server-postgres.ts'),
    import('./store/postgres-token-store.ts'),
    import('./import-token-file.ts'),
  ]);
  const store = new PostgresTokenStore(await ServerPostgres.open(state), { closeDatabase: true });
  try {
    // As a server's start does: a `cairn token revoke` of the operator's token before the first
    // start would otherwise find no such token, and the start would then import it, live.
    await importTokenFile(loaded.paths.tokens, store);
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
