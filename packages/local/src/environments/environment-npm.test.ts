// A real `npm install` as an environment's setup, from the stand-in internet's verdaccio registry
// through the setup's own egress proxy (an allow-list naming the registry alone, the registry's
// token brokered by the proxy, never shown to the setup): the first attempt installs, the next
// reuses the layer, and a sandbox of the attempt requires the package from it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvironmentSpec, ManifestNetworkAllowList } from '@cairn/core';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { standInHosts, startStandInInternet, type StandInInternet } from '../../../worker/src/testing/stand-in-internet/stand-in-internet.test-support.ts';
import { npmPackages } from '../../../worker/src/testing/stand-in-internet/npm-registry.test-support.ts';
import { sandboxLauncher } from '../sandbox/sandbox-launcher.ts';
import { runLaunch, testLimits } from '../sandbox/sandbox.test-support.ts';
import { environmentHarness, removeHarnesses, snapshotOf } from './environment-layers.test-support.ts';

afterEach(removeHarnesses);

let internet: StandInInternet;
beforeAll(async () => {
  internet = await startStandInInternet({ npm: true });
}, 120_000);
afterAll(async () => {
  await internet?.stop();
});

test('npm install from the stand-in registry runs once; the next attempt reuses the layer and can require the package', { timeout: 240_000 }, async () => {
  const harness = environmentHarness({ egress: { nameServers: [internet.nameServer], trust: [internet.ca] } });
  const snapshot = snapshotOf({
    '.npmrc': `registry=https://${standInHosts.registry}/\n`,
    'package.json': `${JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { [npmPackages.hello.name]: npmPackages.hello.version } })}\n`,
  });
  const environment: EnvironmentSpec = {
    setup: { argv: ['npm', 'install', '--no-audit', '--no-fund', '--loglevel=error'] },
    key: ['package.json', '.npmrc'],
  };
  const network: ManifestNetworkAllowList = {
    allow: [standInHosts.registry],
    deny: [],
    credentials: [{ host: standInHosts.registry, secret: 'NPM_TOKEN', as: { header: 'Authorization', value: 'Bearer {secret}' } }],
  };
  const secrets = { NPM_TOKEN: internet.tokens.npm };
  const first = await harness.attempt(snapshot, environment, { network, secrets });
  expect(first.environment?.built).toBe(true);
  await internet.settled();
  const registryRequests = internet.requests.filter((request) => request.host === standInHosts.registry);
  expect(registryRequests.length).toBeGreaterThan(0);
  // The proxy put the token in; the setup itself never held it (its log does not either).
  expect(registryRequests.every((request) => request.headers['authorization'] === `Bearer ${internet.tokens.npm}`)).toBe(true);
  expect(Buffer.from(await first.environment!.log()).toString('utf8')).not.toContain(internet.tokens.npm);
  // The setup's proxy kept its egress record, as an attempt's: every connection it admitted names the registry.
  const egress = setupEgress(await first.environment!.egress!());
  expect(egress.length).toBeGreaterThan(0);
  expect(egress.every((record) => record.host === standInHosts.registry && record.decision === 'allowed')).toBe(true);
  expect(JSON.stringify(egress)).not.toContain(internet.tokens.npm);
  const second = await harness.attempt(snapshot, environment, { network, secrets });
  expect(second.environment?.built).toBe(false);
  // The attempt that reused the layer carries the same record: what the setup reached, not what this attempt did.
  expect(setupEgress(await second.environment!.egress!())).toEqual(egress);
  await internet.settled();
  // The second attempt asked the registry nothing.
  expect(internet.requests.filter((request) => request.host === standInHosts.registry)).toHaveLength(registryRequests.length);
  expect(harness.environmentCache.counts).toMatchObject({ misses: 1, hits: 1 });
  const installed = JSON.parse(readFileSync(join(second.workspace.workspace, 'node_modules', npmPackages.hello.name, 'package.json'), 'utf8')) as {
    version: string;
  };
  expect(installed.version).toBe(npmPackages.hello.version);
  // A sandbox of the attempt (no network at all) requires the package from the environment's layer.
  const launch = sandboxLauncher({ limits: testLimits, uids: { first: 1, count: 1 }, layers: harness.layers })(
    ['node', '-e', `console.log(require(${JSON.stringify(npmPackages.hello.name)}))`],
    { workspace: second.workspace.workspace, env: { PATH: '/usr/bin:/bin', HOME: '/tmp' }, network: false },
  );
  const ran = await runLaunch(launch, 60_000);
  expect(ran.stderr).toBe('');
  expect(ran.stdout).toBe(`${npmPackages.greeting.text}\n`);
});

/** The records of an egress record's NDJSON (one connection a line). */
function setupEgress(ndjson: Uint8Array): { host: string; decision: string }[] {
  return Buffer.from(ndjson)
    .toString('utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { host: string; decision: string });
}
