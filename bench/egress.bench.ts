// The egress proxy's cost (issue 52, ADR 0049), beside the same work done directly and through two
// peers: Squid (Debian's, a production forward proxy) and the least CONNECT proxy node:net makes.
//
// - `npm install` of a project whose tree holds 100 packages (egress-npm-packages.ts) from a real
//   registry (verdaccio behind an HTTPS front that asks for a token, test CA): direct; through the
//   proxy's CONNECT tunnels (npm holds the token, TLS end to end); through the proxy with the
//   registry's credential bound (npm holds nothing, the proxy terminates TLS with its attempt CA and
//   adds the token); through Squid's tunnels. npm is the machine's (`npm` on the PATH) run by this
//   Node, with a fresh cache each run and `--prefer-online`; in turns, median of the runs.
// - One GET on a new connection (keep-alive off), sequentially: what each way adds to a connection
//   over going direct, as percentiles of the paired differences (each round holds one of each).
//
// The hosts run in a child process, the connection client in another; the proxy and the node:net
// peer run here, as the proxy runs in the worker.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { EgressProxy } from '../packages/worker/src/egress/egress-proxy.ts';
import {
  loopbackTestPolicy,
  makeTestCertificates,
  tableResolver,
  type TestCertificates,
} from '../packages/worker/src/egress/egress-test-internet.test-support.ts';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import type { EgressConnectionsConfiguration, EgressWay } from './egress-connections-child.ts';
import type { EgressHostsConfiguration, EgressHostsReady } from './egress-hosts-child.ts';
import { projectDependencies } from './egress-npm-packages.ts';
import { percentile } from './in-turns.ts';
import { atMost, atMostTimes, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';
import { startPlainConnectProxy } from './plain-connect-proxy.ts';
import { startSquidProxy } from './squid-proxy.ts';

const names = {
  registry: 'registry.bench.test',
  boundRegistry: 'bound-registry.bench.test',
  tunnel: 'tunnel.bench.test',
  bound: 'bound.bench.test',
  plain: 'plain.bench.test',
} as const;
const token = 'npm_bench-token-0123456789abcdef';
const installRuns = 9;
const connectionRounds = 1_000;

export default async function egressBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const certificates = makeTestCertificates(Object.values(names));
  const hosts = await startHosts({ key: certificates.key, cert: certificates.cert, token });
  const cleanups: (() => Promise<void>)[] = [() => hosts.stop()];
  try {
    const { ready } = hosts;
    const everyName = Object.fromEntries(Object.values(names).map((name) => [name, '127.0.0.1']));
    const proxy = await EgressProxy.start(
      {
        allow: [
          `${names.registry}:${ready.registryPort}`,
          `${names.boundRegistry}:${ready.registryPort}`,
          `${names.tunnel}:${ready.httpsPort}`,
          `${names.bound}:${ready.httpsPort}`,
          `${names.plain}:${ready.httpPort}`,
        ],
        credentials: [
          { host: names.boundRegistry, secret: 'REGISTRY_TOKEN', header: 'Authorization', value: 'Bearer {secret}' },
          { host: names.bound, secret: 'REGISTRY_TOKEN', header: 'Authorization', value: 'Bearer {secret}' },
        ],
        trust: [certificates.ca],
      },
      {
        resolve: tableResolver(Object.fromEntries(Object.values(names).map((name) => [name, ['127.0.0.1']]))).resolve,
        addressPolicy: loopbackTestPolicy(),
        secrets: { REGISTRY_TOKEN: token },
      },
      { loopback: true },
    );
    cleanups.push(() => proxy.close());
    const plainConnect = await startPlainConnectProxy(everyName);
    cleanups.push(() => plainConnect.stop());
    const squid = await startSquidProxy(everyName);
    cleanups.push(() => squid.stop());

    const rows: BenchmarkRow[] = [];
    rows.push(...(await npmInstallRows(log, certificates, ready, proxy, squid.port)));
    rows.push(...(await connectionRows(log, certificates, ready, proxy, plainConnect.port, squid.port)));
    const flagged = proxy.flagged();
    if (flagged.length > 0) throw new Error(`the proxy flagged the bench's traffic: ${flagged.join('; ')}`);
    return rows;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  }
}

async function npmInstallRows(
  log: BenchmarkContext['log'],
  certificates: TestCertificates,
  ready: EgressHostsReady,
  proxy: EgressProxy,
  squidPort: number,
): Promise<BenchmarkRow[]> {
  const npm = realpathSync(whichNpm());
  log(`  npm install of ${ready.packages} packages (${Object.keys(projectDependencies()).length} direct), ${installRuns} runs each way in turns (npm: ${npm})`);
  const root = mkdtempSync(join(tmpdir(), 'cairn-bench-egress-npm-'));
  try {
    // npm is never told the registry's address: straight, its own name lookup is given the answer
    // (a hosts file for this process alone); through a proxy it cannot resolve the name at all.
    const lookup = join(root, 'lookup.cjs');
    writeFileSync(
      lookup,
      `const dns = require('node:dns');
const original = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (hostname !== ${JSON.stringify(names.registry)}) return original.apply(this, arguments);
  const done = typeof options === 'function' ? options : callback;
  const all = typeof options === 'object' && options !== null && options.all;
  process.nextTick(() => (all ? done(null, [{ address: '127.0.0.1', family: 4 }]) : done(null, '127.0.0.1', 4)));
};
`,
    );
    const testCa = join(root, 'test-ca.pem');
    writeFileSync(testCa, certificates.ca);
    const attemptCa = join(root, 'attempt-ca.pem');
    writeFileSync(attemptCa, proxy.caCertificate!);
    const registry = (name: string) => `https://${name}:${ready.registryPort}/`;
    const ways = {
      direct: { registry: registry(names.registry), token: true, ca: testCa, preload: lookup },
      tunnel: { registry: registry(names.registry), token: true, ca: testCa, proxy: proxy.port },
      bound: { registry: registry(names.boundRegistry), token: false, ca: attemptCa, proxy: proxy.port },
      squid: { registry: registry(names.registry), token: true, ca: testCa, proxy: squidPort },
    } satisfies Record<string, NpmWay>;
    const times: Record<keyof typeof ways, number[]> = { direct: [], tunnel: [], bound: [], squid: [] };
    const seen = { tunnel: 0, bound: 0 };
    // One run of each first, unrecorded: npm's own files into the page cache.
    for (let run = -1; run < installRuns; run++) {
      const order = Object.keys(ways) as (keyof typeof ways)[];
      for (let index = 0; index < order.length; index++) {
        const name = order[(Math.max(run, 0) + index) % order.length]!;
        const before = proxy.records().length;
        const milliseconds = await npmInstall(npm, join(root, `${name}-${run + 1}`), ways[name]);
        if (run >= 0) times[name].push(milliseconds);
        if (name === 'tunnel' || name === 'bound') seen[name] += proxy.records().length - before;
      }
    }
    // Had npm gone round the proxy, it would have opened no connection through it.
    if (seen.tunnel === 0 || seen.bound === 0) throw new Error(`npm opened no connection through the proxy (${JSON.stringify(seen)})`);
    const median = (values: number[]) => percentile(values, 0.5);
    for (const [name, values] of Object.entries(times))
      log(`    ${name}: median ${Math.round(median(values))} ms, min ${Math.round(Math.min(...values))}, max ${Math.round(Math.max(...values))}`);
    log(
      `    the proxy's connections: ${Math.round(seen.tunnel / (installRuns + 1))} a tunnelled install, ${Math.round(seen.bound / (installRuns + 1))} a brokered one`,
    );
    const direct = recorded(`egress: npm install of ${ready.packages} packages, direct, median`, Math.round(median(times.direct)), 'ms');
    return [
      direct,
      atMostTimes('egress: npm install through the proxy (tunnels), median', Math.round(median(times.tunnel)), 'ms', direct, 1.2),
      atMostTimes('egress: npm install through the proxy (credential brokered), median', Math.round(median(times.bound)), 'ms', direct, 1.3),
      recorded("egress: npm install through Squid's tunnels (peer), median", Math.round(median(times.squid)), 'ms'),
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

interface NpmWay {
  readonly registry: string;
  /** Whether npm holds the token (an `.npmrc` entry) or the proxy adds it. */
  readonly token: boolean;
  readonly ca: string;
  readonly proxy?: number;
  readonly preload?: string;
}

function whichNpm(): string {
  for (const directory of (process.env.PATH ?? '').split(':')) {
    const candidate = join(directory, 'npm');
    try {
      return realpathSync(candidate);
    } catch {
      // not here
    }
  }
  throw new Error('npm is not on the PATH');
}

/** Installs the project afresh in `folder` (its own cache, no lockfile), checks all packages landed; resolves with the wall time. */
async function npmInstall(npm: string, folder: string, way: NpmWay): Promise<number> {
  const project = join(folder, 'project');
  mkdirSync(project, { recursive: true });
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'egress-bench-project', version: '1.0.0', private: true, dependencies: projectDependencies() })}\n`,
  );
  const registryHost = new URL(way.registry).host;
  writeFileSync(join(project, '.npmrc'), `registry=${way.registry}\n${way.token ? `//${registryHost}/:_authToken=${token}\n` : ''}`);
  writeFileSync(join(folder, 'userconfig'), '');
  const { NODE_EXTRA_CA_CERTS: _extra, NODE_OPTIONS: _options, ...inherited } = process.env;
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(inherited).filter(([name]) => !/^(npm_|https?_proxy$|no_proxy$)/i.test(name))),
    npm_config_userconfig: join(folder, 'userconfig'),
    npm_config_cafile: way.ca,
    npm_config_update_notifier: 'false',
    ...(way.proxy === undefined ? {} : { npm_config_https_proxy: `http://127.0.0.1:${way.proxy}`, npm_config_proxy: `http://127.0.0.1:${way.proxy}` }),
    ...(way.preload === undefined ? {} : { NODE_OPTIONS: `--require=${way.preload}` }),
  };
  const args = [npm, 'install', '--cache', join(folder, 'cache'), '--prefer-online', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];
  const milliseconds = await timeMilliseconds(() => promisify(execFile)(process.execPath, args, { cwd: project, env, maxBuffer: 1 << 20 }));
  const installed = readdirSync(join(project, 'node_modules')).filter((name) => name.startsWith('egress-bench-')).length;
  if (installed !== 100) throw new Error(`npm installed ${installed} of the 100 packages in ${project}`);
  rmSync(folder, { recursive: true, force: true });
  return milliseconds;
}

async function connectionRows(
  log: BenchmarkContext['log'],
  certificates: TestCertificates,
  ready: EgressHostsReady,
  proxy: EgressProxy,
  plainConnectPort: number,
  squidPort: number,
): Promise<BenchmarkRow[]> {
  const https = (host: string, ca: string, authorize: boolean, proxyPort?: number): EgressWay =>
    proxyPort === undefined
      ? { kind: 'https-direct', host, port: ready.httpsPort, ca, authorize }
      : { kind: 'https-tunnel', proxyPort, host, port: ready.httpsPort, ca, authorize };
  const ways = {
    httpsDirect: https(names.tunnel, certificates.ca, true),
    httpsTunnel: https(names.tunnel, certificates.ca, true, proxy.port),
    httpsBound: https(names.bound, proxy.caCertificate!, false, proxy.port),
    httpsPlainConnect: https(names.tunnel, certificates.ca, true, plainConnectPort),
    httpsSquid: https(names.tunnel, certificates.ca, true, squidPort),
    httpDirect: { kind: 'http-direct', host: names.plain, port: ready.httpPort },
    httpProxied: { kind: 'http-proxied', proxyPort: proxy.port, host: names.plain, port: ready.httpPort },
    httpSquid: { kind: 'http-proxied', proxyPort: squidPort, host: names.plain, port: ready.httpPort },
  } satisfies Record<string, EgressWay>;
  const configuration: EgressConnectionsConfiguration = { token, warmup: 50, rounds: connectionRounds, ways };
  log(`  one GET per new connection: ${connectionRounds} rounds of ${Object.keys(ways).length} ways, the order rotating`);
  const [command, ...args] = childNodeArgv([], 'egress-connections-child.ts', [JSON.stringify(configuration)]);
  const { stdout } = await promisify(execFile)(command!, args, { maxBuffer: 1 << 24 });
  const times = lastJsonLine<Record<keyof typeof ways, number[]>>(stdout);
  const round2 = (value: number) => Math.round(value * 100) / 100;
  const p50 = (values: number[]) => round2(percentile(values, 0.5));
  // Each round holds one request of every way, so a neighbour's burst lands on a pair alike.
  const added = (through: number[], direct: number[]) => through.map((value, index) => value - direct[index]!);
  const addedRows = (label: string, through: number[], direct: number[], goal?: number): BenchmarkRow[] => {
    const differences = added(through, direct);
    const median = p50(differences);
    return [
      goal === undefined
        ? recorded(`egress: added per connection, ${label}, p50`, median, 'ms')
        : atMost(`egress: added per connection, ${label}, p50`, median, 'ms', goal),
      recorded(`egress: added per connection, ${label}, p99`, round2(percentile(differences, 0.99)), 'ms'),
    ];
  };
  return [
    recorded('egress: an HTTPS GET on a new connection, direct, p50', p50(times.httpsDirect), 'ms'),
    recorded('egress: an HTTPS GET on a new connection, direct, p99', round2(percentile(times.httpsDirect, 0.99)), 'ms'),
    ...addedRows('proxy tunnel', times.httpsTunnel, times.httpsDirect, 1),
    ...addedRows('proxy, credential brokered', times.httpsBound, times.httpsDirect, 5),
    ...addedRows('node:net CONNECT (peer)', times.httpsPlainConnect, times.httpsDirect),
    ...addedRows('Squid CONNECT (peer)', times.httpsSquid, times.httpsDirect),
    recorded('egress: a plain HTTP GET on a new connection, direct, p50', p50(times.httpDirect), 'ms'),
    ...addedRows('proxy, plain HTTP', times.httpProxied, times.httpDirect, 1),
    ...addedRows('Squid, plain HTTP (peer)', times.httpSquid, times.httpDirect),
  ];
}

/** The hosts' child, ready; `stop` closes its stdin (it exits and removes its storage) and waits for it. */
async function startHosts(configuration: EgressHostsConfiguration): Promise<{ ready: EgressHostsReady; stop(): Promise<void> }> {
  const [command, ...args] = childNodeArgv([], 'egress-hosts-child.ts', []);
  const child: ChildProcess = spawn(command!, args, { stdio: ['pipe', 'ignore', 'inherit', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = () =>
    new Promise<void>((resolve) => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => (clearTimeout(timer), resolve()));
      child.stdin!.end();
    });
  child.stdin!.write(`${JSON.stringify(configuration)}\n`);
  try {
    const ready = await new Promise<EgressHostsReady>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the egress hosts did not start within 60 s')), 60_000);
      child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`the egress hosts exited (${code}) before they were ready`))));
      createInterface({ input: child.stdio[3] as NodeJS.ReadableStream }).once(
        'line',
        (line) => (clearTimeout(timer), resolve(JSON.parse(line) as EgressHostsReady)),
      );
    });
    return { ready, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
