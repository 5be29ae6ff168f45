// A warm environment's setup behind the item's allow-list, through a real server (ADR 0056, ADR
// 0049): `npm install` from the stand-in internet's verdaccio, the token brokered by the setup's
// own egress proxy. The setup's egress record reaches the items and attempts API, every attempt's
// `attempt.completed` entry (`environmentEgress`) and the evidence bundle (kind
// `environment-egress`), which verifies with the contents read; the record names the registry.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyBundle } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { npmPackages } from '../../../../packages/worker/src/testing/stand-in-internet/npm-registry.test-support.ts';
import {
  standInHosts,
  startStandInInternet,
  type StandInInternet,
} from '../../../../packages/worker/src/testing/stand-in-internet/stand-in-internet.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
let internet: StandInInternet;
const folders: string[] = [];
beforeAll(async () => {
  internet = await startStandInInternet({ npm: true });
}, 120_000);
afterAll(async () => {
  await internet?.stop();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

test("the setup's egress record: in the API, every attempt's entry and the bundle, naming the registry", { timeout: 240_000 }, async () => {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-environment-egress-'));
  folders.push(folder);
  const caFile = join(folder, 'stand-in-ca.pem');
  writeFileSync(caFile, internet.ca);
  chmodSync(folder, 0o755);
  const { base, api, operatorToken, composition } = await start('tokens', {
    config: {
      executor: { kind: 'local', network: { credentialHosts: { NPM_TOKEN: [standInHosts.registry] }, nameServers: [internet.nameServer], trust: [caFile] } },
    },
  });
  await composition.engine.setSecret('NPM_TOKEN', internet.tokens.npm, { kind: 'user', id: 'admin', via: 'cli' });
  const workspace = join(folder, 'app');
  mkdirSync(workspace);
  writeFileSync(join(workspace, '.npmrc'), `registry=https://${standInHosts.registry}/\n`);
  writeFileSync(
    join(workspace, 'package.json'),
    `${JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { [npmPackages.hello.name]: npmPackages.hello.version } })}\n`,
  );
  const read = `cat node_modules/${npmPackages.hello.name}/package.json > seen.json`;
  const spec = {
    version: 1,
    name: 'environment-egress',
    defaults: {
      environment: { setup: { argv: ['npm', 'install', '--no-audit', '--no-fund', '--loglevel=error'] }, key: ['package.json', '.npmrc'] },
      network: {
        allow: [standInHosts.registry],
        credentials: [{ host: standInHosts.registry, secret: 'NPM_TOKEN', as: { header: 'Authorization', value: 'Bearer {secret}' } }],
      },
    },
    items: [
      { id: 'one', runtime: { kind: 'command', argv: ['/bin/sh', '-c', read] }, secrets: ['NPM_TOKEN'] },
      { id: 'two', runtime: { kind: 'command', argv: ['/bin/sh', '-c', read] }, secrets: ['NPM_TOKEN'], dependsOn: ['one'] },
    ],
  };
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const { runId } = await client.submit(JSON.stringify(spec), { workspace });
  const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(200_000) });
  const items = (await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; environment?: Record<string, unknown> }[];
  expect(run.state, JSON.stringify(items, null, 2)).toBe('succeeded');

  // Both items name one record: the build's, whichever attempt ran it.
  const egress = items.map((item) => item.environment?.['egress']);
  expect(egress[0]).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(egress[1]).toBe(egress[0]);
  expect(items.map((item) => item.environment?.['built'])).toEqual([true, false]);
  const attempts = (await (await api(`/v1/runs/${runId}/items/two/attempts`)).json()) as { environment?: Record<string, unknown> }[];
  expect(attempts[0]!.environment?.['egress']).toBe(egress[0]);
  const text = await (await api(`/v1/blobs/${String(egress[0])}`)).text();
  const records = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { host: string; decision: string; credential: string | null });
  expect(records.length).toBeGreaterThan(0);
  expect(records.every((record) => record.host === standInHosts.registry && record.decision === 'allowed')).toBe(true);
  expect(records.some((record) => record.credential === 'NPM_TOKEN')).toBe(true);
  expect(text).not.toContain(internet.tokens.npm);

  // The bundle lists it for each attempt, and verifies with every artifact read.
  const bundleText = await (await api(`/v1/runs/${runId}/bundle`)).text();
  const bundle = JSON.parse(bundleText) as { artifacts: { kind: string; digest: string }[] };
  expect(bundle.artifacts.filter((artifact) => artifact.kind === 'environment-egress').map((artifact) => artifact.digest)).toEqual([egress[0], egress[0]]);
  const report = await verifyBundle(new TextEncoder().encode(bundleText), {
    trustedKeys: [composition.signingKey],
    readArtifact: async (digest) => {
      const response = await api(`/v1/blobs/${digest}`);
      return response.ok ? new Uint8Array(await response.arrayBuffer()) : null;
    },
  });
  expect(report.verdict, JSON.stringify(report.checks)).toBe('verified');
  expect(report.checks.find((check) => check.name === 'artifacts')).toMatchObject({ status: 'pass' });
});
