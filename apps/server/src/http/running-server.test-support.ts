import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeWithMounts } from '@cairn/local';
import { afterAll, afterEach } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../cli/init-server.ts';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { httpApiSettingsOf } from './http-api-settings.ts';
import { buildHttpApi } from './http-server.ts';

/**
 * Call at the top of a test file: `start()` makes a server as `cairn init` + `cairn serve` would —
 * its config, keys and operator token in a fresh directory, the local seams, the HTTP API on a
 * loopback port — and everything is closed and removed after each test (`'test'`), or after the
 * file's last test (`'file'`: a server the file's tests share). Sandboxes are
 * bubblewrap where the machine allows (root), `none` otherwise. `options.config` adds top-level
 * sections to the config `cairn init` wrote (`runtimes`, ...), before the server reads it;
 * `options.port` fixes the port (a config naming the server's own URL needs it before it listens);
 * `options.host` the address it listens on (127.0.0.1 by default).
 */
export function runningServers(closedAfter: 'test' | 'file' = 'test') {
  const closers: (() => Promise<void>)[] = [];
  (closedAfter === 'test' ? afterEach : afterAll)(async () => {
    for (const close of closers.splice(0)) await close();
  });
  return async function start(
    auth: 'tokens' | 'loopback-operator' = 'tokens',
    options: { readonly config?: Readonly<Record<string, unknown>>; readonly port?: number; readonly host?: string } = {},
  ) {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-server-'));
    // Sandboxes start as their own uids and must pass through to their workspaces.
    chmodSync(directory, 0o711);
    const { operatorToken, keyId, configFile } = await initServer(directory);
    if (options.config) writeFileSync(configFile, stringifyYaml({ ...(parseYaml(readFileSync(configFile, 'utf8')) as object), ...options.config }));
    const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
    const composition = await composeServer(loaded);
    const app = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1', auth });
    composition.start();
    composition.webhookDispatcher.start();
    // `host` 0.0.0.0 for a test whose clients live in network namespaces of their own (runners); `base` stays on loopback.
    const listened = await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
    const base = listened.replace('//0.0.0.0:', '//127.0.0.1:');
    closers.push(async () => {
      await app.close();
      await composition.close();
      // An attempt still running keeps its workspace and /tmp mounted (tasks outlive their server).
      removeWithMounts(directory);
    });
    /** `fetch` against the server, with the operator's token unless it runs as loopback-operator. */
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: { ...(auth === 'tokens' ? { authorization: `Bearer ${operatorToken}` } : {}), ...(init.headers as Record<string, string> | undefined) },
      });
    return { directory, base, api, composition, operatorToken, keyId, configFile };
  };
}
