// executor.network in the server's config (ADR 0049): its entries are checked as a spec's are, and
// `cairn doctor` says for the configured executor whether it enforces allow-lists.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadServerConfig } from '../config/load-server-config.ts';
import { diagnoseServer } from './diagnose-server.ts';
import { initServer } from './init-server.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

async function serverFolder(network: unknown): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-network-config-'));
  directories.push(directory);
  const { configFile } = await initServer(directory);
  const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(configFile, stringifyYaml({ ...config, executor: { ...(config['executor'] as object), network } }));
  return directory;
}
const load = (directory: string) => loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });

test('a malformed executor.network entry is refused naming its option: names, not addresses; wildcards only where a spec allows them', async () => {
  const directory = await serverFolder({ allow: ['registry.npmjs.org', '192.168.1.10'], credentialHosts: { NPM_TOKEN: ['*.'] } });
  let refused: unknown;
  try {
    load(directory);
  } catch (error) {
    refused = error;
  }
  expect(refused).toMatchObject({ code: 'CAIRN_CONFIG_INVALID' });
  const message = (refused as Error).message;
  expect(message).toContain('config.executor.network.allow.1');
  expect(message).toContain('name hosts, not addresses');
  expect(message).toContain('config.executor.network.credentialHosts.NPM_TOKEN.0');
});

test('cairn doctor: allow-lists are enforced by the local executor with bubblewrap, and the policy it bounds them with', { timeout: 120_000 }, async () => {
  const directory = await serverFolder({
    allow: ['registry.npmjs.org'],
    deny: ['*.internal.example.com'],
    credentialHosts: { NPM_TOKEN: ['registry.npmjs.org'] },
  });
  const findings = await diagnoseServer(load(directory));
  const network = findings.filter((finding) => finding.check.startsWith('network allow-lists'));
  expect(network).toEqual([
    {
      check: 'network allow-lists (local)',
      ok: true,
      detail: expect.stringContaining(
        process.getuid?.() === 0
          ? "enforced: each allow-listed item's sandbox has no network but its attempt's egress proxy"
          : "not enforced on this executor (without a sandbox an item shares the server's network): a run whose item has network: { allow } is refused at submit",
      ),
    },
  ]);
  expect(network[0]!.detail).toContain('allow: registry.npmjs.org; deny: *.internal.example.com; credentials bound for NPM_TOKEN');
});
