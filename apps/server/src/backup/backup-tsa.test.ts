// A server with an rfc3161 anchor whose TSA certificate lives outside its data directory: the
// backup carries the certificate, and the restored config names the restored copy, so the
// restored server starts and its verifiers trust the same TSA.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpensslTestTsa } from '@cairn/timestamp/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../cli/init-server.ts';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { serverTsaCertificates } from '../capabilities/evidence/server-trust.ts';
import { backupServer } from './backup-server.ts';
import { restoreBackup } from './restore-backup.ts';

let tsa: OpensslTestTsa;
const directories: string[] = [];
beforeAll(async () => {
  tsa = await OpensslTestTsa.start();
});
afterAll(async () => {
  await tsa.close();
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

test(
  'the backup carries an rfc3161 anchor TSA certificate kept outside the data directory; the restored server starts and trusts it',
  { timeout: 60_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-backup-tsa-'));
    directories.push(directory);
    const server = join(directory, 'server');
    await initServer(server);
    writeFileSync(join(directory, 'acme-tsa.pem'), tsa.certificate);
    const file = join(server, 'cairn.config.yaml');
    const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, stringifyYaml({ ...config, anchors: [{ kind: 'local' }, { kind: 'rfc3161', url: tsa.url, trustedCertificate: '../acme-tsa.pem' }] }));
    const loaded = loadServerConfig({ directory: server, env: { CAIRN_SANDBOX: 'none' } });
    await (await composeServer(loaded)).close();

    const archive = join(directory, 'server.cairn-backup');
    await backupServer(loaded, archive);
    // Restored on another machine: the original certificate file is not there.
    rmSync(join(directory, 'acme-tsa.pem'));
    const target = join(directory, 'restored');
    await restoreBackup(archive, target);
    const restored = loadServerConfig({ directory: target, env: { CAIRN_SANDBOX: 'none' } });
    expect(restored.config.anchors[1]).toMatchObject({ kind: 'rfc3161', url: tsa.url, trustedCertificate: './cairn-data/keys/tsa-1.pem' });
    expect(serverTsaCertificates(restored)).toEqual([tsa.certificate]);
    const copy = await composeServer(restored);
    try {
      expect(copy.anchors.map((anchor) => anchor.provider)).toEqual(['file', 'rfc3161']);
    } finally {
      await copy.close();
    }
  },
);
