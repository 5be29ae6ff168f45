// The server's rfc3161 anchor kind, built the way `cairn serve` builds it: the TSA certificate read
// from the file the config names (relative to the config), the anchor stamping at a real TSA
// (OpenSSL on loopback); a certificate file that is missing or not a TSA's is named at boot.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyTimestampToken } from '@cairn/audit';
import { OpensslTestTsa } from '@cairn/timestamp/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadServerConfig } from '../config/load-server-config.ts';
import { serverAnchors, serverTsaCertificates } from '../capabilities/evidence/server-trust.ts';
import { buildSeam, seamFactories } from './seam-factories.ts';

let tsa: OpensslTestTsa;
const directories: string[] = [];
beforeAll(async () => {
  tsa = await OpensslTestTsa.start();
});
afterAll(async () => {
  await tsa.close();
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

function serverFolder(certificate: string | undefined): string {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-rfc3161-config-'));
  directories.push(directory);
  mkdirSync(join(directory, 'keys'));
  if (certificate !== undefined) writeFileSync(join(directory, 'keys', 'tsa.pem'), certificate);
  writeFileSync(
    join(directory, 'cairn.config.yaml'),
    `dataDirectory: ./data\nanchors:\n  - { kind: local }\n  - { kind: rfc3161, url: "${tsa.url}", trustedCertificate: keys/tsa.pem }\n`,
  );
  return directory;
}

test('the rfc3161 kind builds an anchor that stamps at the configured TSA with the certificate file trusted; verifiers of the folder trust it and read only the local anchor live', async () => {
  const loaded = loadServerConfig({ directory: serverFolder(tsa.certificate), env: {} });
  const anchor = await buildSeam(seamFactories.anchor, loaded.config.anchors[1]!, { loaded, index: 1, where: 'config.anchors[1]' });
  expect(anchor).toMatchObject({ provider: 'rfc3161', guarantee: 'detect' });
  const envelope = new TextEncoder().encode('{"payload":"e30=","payloadType":"application/vnd.cairn.checkpoint+json","signatures":[]}');
  const receipt = await anchor.anchor({ origin: 'cairn:test', treeSize: 3, rootHash: 'c'.repeat(64), envelope });
  verifyTimestampToken(Buffer.from(receipt.timestampToken!, 'base64'), envelope, [tsa.certificate]);
  expect(serverTsaCertificates(loaded)).toEqual([tsa.certificate]);
  expect(serverAnchors(loaded).map((trusted) => trusted.name)).toEqual([`file:${loaded.paths.anchors[0]}`]);
});

test('a TSA certificate file that is missing, or is not a certificate allowed to timestamp, is named with its option path', async () => {
  for (const [certificate, problem] of [
    [undefined, /config\.anchors\[1\]\.trustedCertificate: cannot read the TSA certificate .*keys\/tsa\.pem/],
    ['not a certificate', /config\.anchors\[1\]\.trustedCertificate: .*keys\/tsa\.pem is not a PEM X\.509 certificate/],
    [tsa.certificateWithoutTimestamping, /config\.anchors\[1\]\.trustedCertificate: .*not allowed to timestamp/],
  ] as const) {
    const loaded = loadServerConfig({ directory: serverFolder(certificate), env: {} });
    await expect(buildSeam(seamFactories.anchor, loaded.config.anchors[1]!, { loaded, index: 1, where: 'config.anchors[1]' })).rejects.toMatchObject({
      code: 'CAIRN_CONFIG_INVALID',
      message: expect.stringMatching(problem),
    });
    expect(() => serverTsaCertificates(loaded)).toThrow(problem);
  }
});
