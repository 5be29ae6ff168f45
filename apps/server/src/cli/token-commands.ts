import { principalOf } from '../capabilities/access/token-principal.ts';
import { tokenScopes } from '../capabilities/access/token-scopes.ts';
import type { TokenStore } from '../capabilities/access/token-store.ts';
import { configOption, json, program, say, sayList } from './cli-program.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

/**
 * `cairn token create|list|revoke`: bearer tokens, written to the config's token store (stored
 * hashed): the token file, or the engine's PostgreSQL database in PostgreSQL mode.
 */
export function addTokenCommands(): void {
  const token = program.command('token').description('bearer tokens of this server (stored hashed)');
  token
    .command('create')
    .requiredOption('--name <name>', 'what the token is for')
    .requiredOption(
      '--scope <scope...>',
      `scopes: ${tokenScopes.join(', ')}; secrets:use:NAME lets its runs use secret NAME (secrets:use:* every secret); role:NAME gives it a role approval policies name (from)`,
    )
    .option(
      '--for <principal>',
      'who the token belongs to: a person or a service (ana, service:ci, <issuer>#<subject>); an approval policy counts one vote per principal, however many tokens they hold (default: the token is its own)',
    )
    .description('make a token; it is shown once')
    .action(async (options: { name: string; scope: string[]; for?: string }) => {
      // The CLI acts with no identity of its own to hand on: a token made for no one is its own principal.
      const created = await withTokenStore((store) =>
        store.create(options.name, options.scope, new Date(), options.for === undefined ? {} : { principal: options.for }),
      );
      say(
        json()
          ? JSON.stringify(created)
          : `${created.token}\n(token ${created.record.id} of ${principalOf(created.record)}, ${created.record.scopes.join(' ')}; shown once, only its hash is kept)`,
      );
    });
  token
    .command('list')
    .description('tokens, without their secrets')
    .action(async () => {
      const tokens = await withTokenStore((store) => store.list());
      sayList(
        tokens,
        (record) =>
          `${record.id}  ${record.name.padEnd(20)} ${principalOf(record).padEnd(20)} ${record.scopes.join(' ').padEnd(30)} ${record.revokedAt ? `revoked ${record.revokedAt}` : `since ${record.createdAt}`}`,
      );
    });
  token
    .command('revoke')
    .argument('<id>', 'the token id (cairn token list)')
    .description('revoke a token; a running server refuses it from its next request')
    .action(async (id: string) => {
      const record = await withTokenStore((store) => store.revoke(id));
      say(json() ? JSON.stringify(record) : `token ${record.id} revoked`);
    });
}

/** Runs `work` on the config's token store and closes it (a PostgreSQL store holds connections). */
async function withTokenStore<Result>(work: (store: TokenStore) => Promise<Result>): Promise<Result> {
  const { openTokenStore } = await import('../capabilities/access/open-token-store.ts');
  const store = await openTokenStore(await loadServerConfigLazily(configOption()));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
