// `cairn token` beside a PostgreSQL server that has not started yet: the token file `cairn init`
// wrote is imported first, as a server's start does, so the operator's token can be listed and
// revoked at once, and a later start does not bring a revoked token back.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { expect, onTestFinished, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createTestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { initServer } from '../../cli/init-server.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { testDirectory } from '../../store/sqlite/file-lock.test-support.ts';
import { openTokenStore } from './open-token-store.ts';

test('in PostgreSQL mode the token file is imported before a command uses the tokens: the operator token revoked before the first start stays revoked', async () => {
  const database = await createTestDatabase();
  onTestFinished(() => database.drop());
  const directory = testDirectory('cairn-open-token-store-');
  const { operatorToken, configFile } = await initServer(directory);
  writeFileSync(configFile, stringifyYaml({ ...(parseYaml(readFileSync(configFile, 'utf8')) as object), engine: { state: database.settings } }));
  const loaded = loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } });
  const operatorId = /^cairn_([0-9a-f]{12})_/.exec(operatorToken)![1]!;

  const store = await openTokenStore(loaded);
  try {
    expect((await store.list()).map((token) => token.id)).toEqual([operatorId]);
    expect(existsSync(loaded.paths.tokens)).toBe(false);
    expect(existsSync(`${loaded.paths.tokens}.imported`)).toBe(true);
    await store.revoke(operatorId);
  } finally {
    await store.close();
  }

  // The next opening (a server's start imports the same way) finds no file to import again.
  const again = await openTokenStore(loaded);
  try {
    expect(await again.verify(operatorToken)).toBeUndefined();
    expect(await again.hasLiveTokens()).toBe(false);
  } finally {
    await again.close();
  }
});
