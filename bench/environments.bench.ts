// Warm environments (ADR 0056): the per-item time of a 10-item run whose items need `npm ci` of a
// project of 100 packages (egress-npm-packages.ts) from a real registry (the stand-in internet's
// verdaccio, behind its HTTPS front that wants a token), through each setup's own egress proxy
// (allow-list, token brokered), with and without the environment layer: without, every item pays
// its `npm ci` (each item a key of its own, so each runs the setup in its sandbox); with, the first
// item runs it once and the nine others mount its layer. Per item is what each attempt waited
// before its runtime could start: its workspace laid, its environment set up or found. The local
// executor's own layers (snapshot cache, idmapped overlays, bubblewrap), as root.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnvironmentSpec, ManifestNetworkAllowList } from '@cairn/core';
import { sha256Digest } from '@cairn/protocol';
import { writeTar } from '@cairn/protocol/workspace';
import { AttemptWorkspace, workerEgressSettingsSchema } from '@cairn/worker';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { EnvironmentCache } from '../packages/local/src/environments/environment-cache.ts';
import { EnvironmentLayers } from '../packages/local/src/environments/environment-layers.ts';
import { OverlayWorkspaces } from '../packages/local/src/sandbox/overlay-workspaces.ts';
import { SandboxUids } from '../packages/local/src/sandbox/sandbox-uids.ts';
import { SnapshotCache } from '../packages/local/src/snapshots/snapshot-cache.ts';
import { standInHosts, startStandInInternet, type StandInInternet } from '../packages/worker/src/testing/stand-in-internet/stand-in-internet.test-support.ts';
import { benchPackages, projectDependencies, type BenchPackage } from './egress-npm-packages.ts';
import { atMostTimes, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const items = 10;

export default async function environmentBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  if (process.getuid?.() !== 0) {
    log('  environments: skipped (overlays, idmapped mounts and sandbox uids need root)');
    return [];
  }
  const internet = await startStandInInternet({ npm: true });
  const root = mkdtempSync(join(tmpdir(), 'cairn-bench-environments-'));
  chmodSync(root, 0o711);
  try {
    const packages = benchPackages();
    for (const bench of packages) await publish(internet, bench);
    const snapshot = await projectSnapshot(internet, join(root, 'project'));
    log(`  environments: ${items} items needing npm ci of ${packages.length} packages, each way`);
    const environment: EnvironmentSpec = { setup: { argv: ['npm', 'ci', '--no-audit', '--no-fund', '--loglevel=error'] } };
    // Without: a key per item (another base), so every item runs its own npm ci in its sandbox.
    const without = await runItems(internet, join(root, 'without'), snapshot, (item) => ({ ...environment, base: `item-${item}` }));
    const withLayer = await runItems(internet, join(root, 'with'), snapshot, () => environment);
    if (withLayer.built !== 1 || without.built !== items) throw new Error(`setups ran ${without.built} and ${withLayer.built} times, not ${items} and 1`);
    const perItemWithout = recorded(
      `environments.npm-ci-${packages.length}-packages.${items}-items.without-layer.per-item-ms`,
      Math.round(mean(without.times)),
      'ms',
    );
    return [
      perItemWithout,
      atMostTimes(
        `environments.npm-ci-${packages.length}-packages.${items}-items.with-layer.per-item-ms`,
        Math.round(mean(withLayer.times)),
        'ms',
        perItemWithout,
        0.5,
      ),
      recorded(`environments.npm-ci-${packages.length}-packages.with-layer.setup-item-ms`, Math.round(withLayer.times[0]!), 'ms'),
      recorded(`environments.npm-ci-${packages.length}-packages.with-layer.reusing-item-p50-ms`, Math.round(median(withLayer.times.slice(1))), 'ms'),
    ];
  } finally {
    await internet.stop();
    execFileSync('sh', ['-c', `grep -o " ${root}[^ ]*" /proc/mounts | sort -r | xargs -r umount -l`], { stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
  }
}

/** Lays `items` attempts one after another over `snapshot`, each with the environment given, and times each. */
async function runItems(
  internet: StandInInternet,
  folder: string,
  snapshot: { bytes: Uint8Array; digest: string },
  environmentOf: (item: number) => EnvironmentSpec,
): Promise<{ times: number[]; built: number }> {
  mkdirSync(join(folder, 'work'), { recursive: true, mode: 0o711 });
  chmodSync(folder, 0o711);
  const environments = new EnvironmentCache({ directory: join(folder, 'cache', '.environments'), maxBytes: 1e12, maxAgeMs: 1e12 });
  const layers = new OverlayWorkspaces({
    cache: new SnapshotCache({ directory: join(folder, 'cache'), maxBytes: 1e12, maxAgeMs: 1e12, checkEveryMs: 10_000 }),
    uids: new SandboxUids(230_000, 1_000),
    environments: new EnvironmentLayers(environments, {
      limits: { processes: 256, openFiles: 4_096, cpuSeconds: 600, fileBytes: 1_073_741_824, addressSpaceBytes: 8_589_934_592 },
      tmpBytes: 1_073_741_824,
      egress: workerEgressSettingsSchema.parse({ nameServers: [internet.nameServer], trust: [internet.ca] }),
    }),
  });
  const network: ManifestNetworkAllowList = {
    allow: [standInHosts.registry],
    deny: [],
    credentials: [{ host: standInHosts.registry, secret: 'NPM_TOKEN', as: { header: 'Authorization', value: 'Bearer {secret}' } }],
  };
  const times: number[] = [];
  let built = 0;
  for (let item = 0; item < items; item++) {
    let attempt: AttemptWorkspace | undefined;
    times.push(
      await timeMilliseconds(async () => {
        attempt = await AttemptWorkspace.overLayer({
          root: join(folder, 'work'),
          label: `item-${item}`,
          layers,
          digest: snapshot.digest,
          what: 'the bench project',
          fetch: async () => snapshot.bytes,
          environment: { spec: environmentOf(item), network, secrets: { NPM_TOKEN: internet.tokens.npm } },
        });
      }),
    );
    if (!attempt) throw new Error('the workspace could not be laid over the snapshot cache here');
    if (attempt.environment?.built) built++;
    await attempt.remove();
  }
  return { times, built };
}

/** Publishes a package into the stand-in registry through its HTTPS front, as `npm publish` does. */
async function publish(internet: StandInInternet, bench: BenchPackage): Promise<void> {
  const { name, version } = bench.manifest;
  const file = `${name}-${version}.tgz`;
  const document = {
    _id: name,
    name,
    'dist-tags': { latest: version },
    versions: {
      [version]: {
        ...bench.manifest,
        _id: `${name}@${version}`,
        dist: {
          shasum: createHash('sha1').update(bench.tarball).digest('hex'),
          integrity: `sha512-${createHash('sha512').update(bench.tarball).digest('base64')}`,
          tarball: `https://${standInHosts.registry}/${name}/-/${file}`,
        },
      },
    },
    _attachments: { [file]: { content_type: 'application/octet-stream', data: bench.tarball.toString('base64'), length: bench.tarball.length } },
  };
  const body = Buffer.from(JSON.stringify(document));
  const status = await new Promise<number>((resolve, reject) => {
    const sent = request(
      {
        host: internet.address,
        port: 443,
        servername: standInHosts.registry,
        ca: internet.ca,
        method: 'PUT',
        path: `/${name}`,
        headers: {
          host: standInHosts.registry,
          authorization: `Bearer ${internet.tokens.npm}`,
          'content-type': 'application/json',
          'content-length': body.length,
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    sent.on('error', reject);
    sent.end(body);
  });
  if (status < 200 || status >= 300) throw new Error(`publishing ${name} to the stand-in registry answered ${status}`);
}

/** The project (package.json, .npmrc, and the lockfile npm writes for it against the registry) as a snapshot. */
async function projectSnapshot(internet: StandInInternet, folder: string): Promise<{ bytes: Uint8Array; digest: string }> {
  mkdirSync(folder, { recursive: true });
  const manifest = `${JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true, dependencies: projectDependencies() }, null, 2)}\n`;
  const npmrc = `registry=https://${standInHosts.registry}/\n`;
  writeFileSync(join(folder, 'package.json'), manifest);
  writeFileSync(join(folder, '.npmrc'), `${npmrc}//${standInHosts.registry}/:_authToken=${internet.tokens.npm}\n`);
  writeFileSync(join(folder, 'ca.pem'), internet.ca);
  execFileSync(
    'sh',
    [
      '-c',
      `cd "$0" && exec "$@"`,
      folder,
      ...internet.withNameServer(['npm', 'install', '--package-lock-only', '--no-audit', '--no-fund', '--loglevel=error']),
    ],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: folder,
        NODE_EXTRA_CA_CERTS: join(folder, 'ca.pem'),
        npm_config_cache: join(folder, 'npm-cache'),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const bytes = writeTar([
    { kind: 'file', path: '.npmrc', executable: false, content: Buffer.from(npmrc) },
    { kind: 'file', path: 'package.json', executable: false, content: Buffer.from(manifest) },
    { kind: 'file', path: 'package-lock.json', executable: false, content: readFileSync(join(folder, 'package-lock.json')) },
  ]);
  return { bytes, digest: sha256Digest(bytes) };
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
