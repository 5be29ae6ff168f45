// A server that fails to start leaves nothing open: the parts it started before the failure (the
// stores, the engine) are closed, in reverse, before the error reaches the caller.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { composeServer } from './compose-server.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** The SQLite write-ahead logs left beside the server's databases: one is there while a connection to its database is open. */
function openWriteAheadLogs(directory: string): string[] {
  return readdirSync(directory, { recursive: true, encoding: 'utf8' }).filter((path) => path.endsWith('-wal'));
}

test('a part that fails to start (a template whose spec is missing) closes the stores and the engine started before it', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-compose-failure-'));
  directories.push(directory);
  const { configFile } = await initServer(directory);
  const started = await composeServer(loadServerConfig({ directory, env: {} }));
  expect(openWriteAheadLogs(directory)).not.toEqual([]);
  await started.close();
  expect(openWriteAheadLogs(directory)).toEqual([]);

  // The triggers start after the stores and the engine: their failure closes both.
  writeFileSync(configFile, stringifyYaml({ ...(parseYaml(readFileSync(configFile, 'utf8')) as object), templates: { broken: { spec: './missing.yaml' } } }));
  await expect(composeServer(loadServerConfig({ directory, env: {} }))).rejects.toMatchObject({ code: 'CAIRN_CONFIG_INVALID' });
  expect(openWriteAheadLogs(directory)).toEqual([]);
});
