import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitRepository, gitTokenUser } from './git-server.test-support.ts';
import { npmPackages } from './npm-registry.test-support.ts';
import { pipProject } from './pip-index.test-support.ts';
import { standInHosts, startStandInInternet, type StandInInternet } from './stand-in-internet.test-support.ts';

let internet: StandInInternet;
let folder: string;
let caFile: string;
let startedIn: number;

beforeAll(async () => {
  const started = performance.now();
  internet = await startStandInInternet({
    npm: true,
    names: {
      'www.test.example': 'serve',
      'private.test.example': '10.1.2.3',
      'metadata.test.example': '169.254.169.254',
      'mixed.test.example': ['serve', '10.0.0.1'],
    },
  });
  startedIn = performance.now() - started;
  folder = mkdtempSync(join(tmpdir(), 'cairn-stand-in-internet-test-'));
  caFile = join(folder, 'ca.pem');
  writeFileSync(caFile, internet.ca);
}, 60_000);

afterAll(async () => {
  await internet?.stop();
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
});

/** Runs a client on the host with the stand-in name server as its resolver; never throws. */
function client(argv: readonly string[], environment: Record<string, string>, cwd = folder): Promise<{ code: number; stdout: string; stderr: string }> {
  const [program, ...args] = internet.withNameServer(argv);
  return new Promise((resolve) => {
    execFile(
      program ?? 'false',
      args,
      { cwd, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C', ...environment }, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
  });
}

function resolver(): Resolver {
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  resolver.setServers([internet.nameServer]);
  return resolver;
}

/** A GET over HTTPS to `name`, resolved through the stand-in name server, trusting `ca`. */
async function httpsText(name: string, path: string, ca: string | undefined): Promise<{ status: number; body: string }> {
  const [address] = await resolver().resolve4(name);
  return new Promise((resolve, reject) => {
    const request = httpsGet({ host: address, servername: name, headers: { host: name }, path, ...(ca === undefined ? {} : { ca }) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    request.on('error', reject);
  });
}

describe('the stand-in internet', () => {
  it('lives in 198.18.0.0/15 and starts within seconds', () => {
    expect(internet.address).toMatch(/^198\.1[89]\.\d+\.\d+$/);
    expect(internet.nameServer).toBe(internet.address);
    expect(startedIn).toBeLessThan(15_000);
  });

  it('answers A records for its table, and NXDOMAIN for any other name', async () => {
    const dns = resolver();
    expect(await dns.resolve4(standInHosts.git)).toEqual([internet.address]);
    expect(await dns.resolve4('WWW.test.example')).toEqual([internet.address]);
    expect(await dns.resolve4('private.test.example')).toEqual(['10.1.2.3']);
    expect(await dns.resolve4('metadata.test.example')).toEqual(['169.254.169.254']);
    expect((await dns.resolve4('mixed.test.example')).toSorted()).toEqual([internet.address, '10.0.0.1'].toSorted());
    await expect(dns.resolve4('unknown.test.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    // A name it holds has no AAAA record: an empty answer, not NXDOMAIN.
    await expect(dns.resolve6(standInHosts.git)).rejects.toMatchObject({ code: 'ENODATA' });
    await internet.settled();
    expect(internet.questions).toContainEqual({ name: 'unknown.test.example', type: 1 });
  });

  it('answers over TCP as well as UDP', async () => {
    const { stdout } = await client(['getent', 'ahostsv4', 'www.test.example'], {});
    expect(stdout).toContain(internet.address);
    // `options use-vc` sends every query over TCP.
    const tcpConf = join(folder, 'resolv-tcp.conf');
    writeFileSync(tcpConf, `nameserver ${internet.nameServer}\noptions use-vc attempts:1\n`);
    const tcp = await new Promise<string>((resolve) =>
      execFile(
        'unshare',
        ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec getent ahostsv4 www.test.example', tcpConf],
        (_error, out) => resolve(out),
      ),
    );
    expect(tcp).toContain(internet.address);
  });

  it('serves HTTPS to a client trusting its CA, and records what it was asked', async () => {
    const answer = await httpsText('www.test.example', '/asked?x=1', internet.ca);
    expect(answer).toEqual({ status: 200, body: 'hello from www.test.example\n' });
    await internet.settled();
    expect(internet.requests).toContainEqual(
      expect.objectContaining({ scheme: 'https', method: 'GET', host: 'www.test.example', url: '/asked?x=1', sni: 'www.test.example' }),
    );
  });

  it('fails TLS for a client without its CA', async () => {
    await expect(httpsText('www.test.example', '/', undefined)).rejects.toMatchObject({ code: expect.stringMatching(/CERT|SIGNATURE|ISSUER/) });
  });

  it('serves plain HTTP on port 80 of the same names', async () => {
    const { stdout } = await client(
      [process.execPath, '-e', "fetch('http://www.test.example/plain').then(async (r) => console.log(r.status, await r.text()))"],
      {},
    );
    expect(stdout).toBe('200 hello from www.test.example\n\n');
    await internet.settled();
    expect(internet.requests).toContainEqual(expect.objectContaining({ scheme: 'http', host: 'www.test.example', url: '/plain' }));
  });

  describe('git', () => {
    const gitEnvironment = () => ({ HOME: folder, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0', GIT_SSL_CAINFO: caFile });
    const url = (credentials: string) => `https://${credentials}${standInHosts.git}/${gitRepository.name}`;

    it('clones the private repository with the token', async () => {
      const result = await client(['git', 'clone', '--quiet', url(`${gitTokenUser}:${internet.tokens.git}@`), 'with-token'], gitEnvironment());
      expect(result.stderr).toBe('');
      expect(readFileSync(join(folder, 'with-token', gitRepository.readme), 'utf8')).toBe(`${gitRepository.line}\n`);
      await internet.settled();
      const basic = `Basic ${Buffer.from(`${gitTokenUser}:${internet.tokens.git}`).toString('base64')}`;
      expect(internet.requests).toContainEqual(expect.objectContaining({ host: standInHosts.git, headers: expect.objectContaining({ authorization: basic }) }));
    });

    it('refuses a clone without the token, or with another', async () => {
      const without = await client(['git', 'clone', '--quiet', url(''), 'without-token'], gitEnvironment());
      expect(without.code).not.toBe(0);
      expect(without.stderr).toMatch(/could not read Username|Authentication failed|401/);
      const wrong = await client(['git', 'clone', '--quiet', url(`${gitTokenUser}:not-the-token@`), 'wrong-token'], gitEnvironment());
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/Authentication failed/);
      expect(existsSync(join(folder, 'wrong-token', gitRepository.readme))).toBe(false);
    });
  });

  describe('npm', () => {
    async function install(name: string, token: string | undefined) {
      const project = join(folder, `npm-${name}`);
      mkdirSync(project);
      writeFileSync(
        join(project, 'package.json'),
        JSON.stringify({ name, version: '0.0.0', private: true, dependencies: { [npmPackages.hello.name]: npmPackages.hello.version } }),
      );
      writeFileSync(join(project, 'user.npmrc'), token === undefined ? '' : `//${standInHosts.registry}/:_authToken=${token}\n`);
      const result = await client(
        ['npm', 'install', '--no-audit', '--no-fund', '--no-update-notifier'],
        {
          HOME: project,
          npm_config_registry: `https://${standInHosts.registry}/`,
          npm_config_cafile: caFile,
          npm_config_userconfig: join(project, 'user.npmrc'),
          npm_config_cache: join(project, 'cache'),
          npm_config_fetch_retries: '0',
        },
        project,
      );
      return { ...result, project };
    }

    it('installs a package and its dependency with the token', async () => {
      const { code, stderr, project } = await install('with-token', internet.tokens.npm);
      expect(stderr).not.toMatch(/ERR!/);
      expect(code).toBe(0);
      const { stdout } = await client([process.execPath, '-p', `require(${JSON.stringify(npmPackages.hello.name)})`], {}, project);
      expect(stdout).toBe(`${npmPackages.greeting.text}\n`);
      await internet.settled();
      expect(internet.requests).toContainEqual(
        expect.objectContaining({
          host: standInHosts.registry,
          url: expect.stringMatching(/\.tgz$/),
          headers: expect.objectContaining({ authorization: `Bearer ${internet.tokens.npm}` }),
        }),
      );
    }, 120_000);

    it('refuses an install without the token, or with another', async () => {
      const without = await install('without-token', undefined);
      expect(without.code).not.toBe(0);
      expect(without.stderr).toMatch(/E401/);
      const wrong = await install('wrong-token', 'not-the-token');
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/E401/);
      expect(existsSync(join(wrong.project, 'node_modules', npmPackages.hello.name))).toBe(false);
    }, 120_000);
  });

  describe('pip', () => {
    const pip = (target: string, cert: string[]) =>
      client(
        [
          'python3',
          '-m',
          'pip',
          'install',
          '--no-cache-dir',
          '--disable-pip-version-check',
          '--retries',
          '0',
          '--index-url',
          `https://${standInHosts.pypi}/simple/`,
          ...cert,
          '--target',
          join(folder, target),
          pipProject.name,
        ],
        { HOME: folder, PIP_CONFIG_FILE: '/dev/null' },
      );

    it('installs a wheel from the simple index', async () => {
      const result = await pip('pip-target', ['--cert', caFile]);
      expect(result.code).toBe(0);
      const { stdout } = await client(['python3', '-c', `import ${pipProject.module}; print(${pipProject.module}.GREETING)`], {
        PYTHONPATH: join(folder, 'pip-target'),
      });
      expect(stdout).toBe(`${pipProject.greeting}\n`);
    }, 120_000);

    it('fails without the CA', async () => {
      const result = await pip('pip-untrusted', []);
      expect(result.code).not.toBe(0);
      expect(result.stderr + result.stdout).toMatch(/CERTIFICATE_VERIFY_FAILED/);
    }, 120_000);
  });
});

describe('a stopped stand-in internet', () => {
  it('leaves no namespace, veth or address behind', async () => {
    const second = await startStandInInternet();
    const hostAddresses = () => new Promise<string>((resolve) => execFile('ip', ['-4', 'address', 'show'], (_error, stdout) => resolve(stdout)));
    const linkExists = (link: string) => new Promise<boolean>((resolve) => execFile('ip', ['link', 'show', link], (error) => resolve(error === null)));
    expect(second.address).not.toBe(internet.address);
    expect(await linkExists(second.link)).toBe(true);
    expect(existsSync(`/proc/${second.pid}/ns/net`)).toBe(true);
    const hostEnd = second.address.replace(/\d+$/, (last) => String(Number(last) - 1));
    expect(await hostAddresses()).toContain(`${hostEnd}/30`);
    await second.stop();
    expect(await linkExists(second.link)).toBe(false);
    expect(existsSync(`/proc/${second.pid}`)).toBe(false);
    expect(await hostAddresses()).not.toContain(`${hostEnd}/30`);
    await expect(resolver().resolve4(standInHosts.git)).resolves.toEqual([internet.address]);
  }, 60_000);
});
