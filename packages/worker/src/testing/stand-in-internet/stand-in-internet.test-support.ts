// A stand-in internet for the egress tests: a network namespace of its own, linked to the host by a
// veth pair, holding a name server, an HTTPS and HTTP front for every served name (one leaf of a
// test CA covers them all), and behind the front a git host, a pip index and (on request) an npm
// registry that each want a token. The host reaches it only over the veth, as a worker's egress
// proxy reaches the internet; a sandbox never reaches it but through that proxy.
//
// The servers run in a child process started under `unshare --net`, so the namespace lives exactly
// as long as that process, and the process as long as its stdin is open: a test run that dies,
// however it dies, takes the namespace, the veth and its addresses with it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { makeTestCertificates } from '../../egress/egress-test-internet.test-support.ts';
import type { InsideConfiguration, InsideMessage, StandInRequest } from './inside-protocol.test-support.ts';
import { linkNamespace, type NamespaceLink } from './namespace-link.test-support.ts';

export type { StandInRequest } from './inside-protocol.test-support.ts';

/** The names of the hosts behind the front: served always, whatever `names` says. */
export const standInHosts = { git: 'git.test.example', registry: 'registry.test.example', pypi: 'pypi.test.example' } as const;

export interface StandInInternetOptions {
  /**
   * The name server's table beyond `standInHosts`: each name to `'serve'` (the stand-in internet's
   * own address, where the front answers it with HTTPS and HTTP), to an IPv4 address (answered in
   * DNS only: `10.1.2.3`, `169.254.169.254`, to test what the proxy refuses), or to several.
   */
  readonly names?: Readonly<Record<string, 'serve' | string | readonly string[]>>;
  /** Starts verdaccio behind `registry.test.example` (about half a second more); off by default. */
  readonly npm?: boolean;
  /** The token the git host wants as the password of `x-access-token` (random when not given). */
  readonly gitToken?: string;
  /** The token the npm registry wants as `Authorization: Bearer` (random when not given). */
  readonly npmToken?: string;
}

export interface StandInInternet {
  /** Where the served names live: the namespace's end of the veth, in 198.18.0.0/15. */
  readonly address: string;
  /** A name server (UDP and TCP port 53) answering A records for the table, NXDOMAIN otherwise. */
  readonly nameServer: string;
  /** The test CA's certificate (PEM): the served names' leaf is signed by it. */
  readonly ca: string;
  readonly tokens: { readonly git: string; readonly npm: string };
  /** Each request the front was sent, in order of arrival (call `settled` before reading it after a client ends). */
  readonly requests: readonly StandInRequest[];
  /** Each question the name server was asked: the name and the record type (1 is A, 28 AAAA). */
  readonly questions: readonly { readonly name: string; readonly type: number }[];
  /** The host end of the veth (`cairn-si<pid>`), gone after `stop`. */
  readonly link: string;
  /** The pid of the process holding the namespace. */
  readonly pid: number;
  /** Resolves once every request and question received so far is in `requests` and `questions`. */
  settled(): Promise<void>;
  /**
   * `argv` wrapped to run in a mount namespace whose `/etc/resolv.conf` names `nameServer` alone:
   * how a test runs git, npm or pip on the host against the stand-in names (root only).
   */
  withNameServer(argv: readonly string[]): string[];
  /** Ends the servers and removes the namespace, the veth and the files; safe to call twice. */
  stop(): Promise<void>;
}

const folderPrefix = 'cairn-stand-in-internet-';
const insideProgram = fileURLToPath(new URL('./inside-namespace.test-support.ts', import.meta.url));

/** Removes the folders of earlier starts whose test process is gone (their name holds its pid). */
function removeStaleFolders(): void {
  for (const entry of readdirSync(tmpdir())) {
    const pid = entry.startsWith(folderPrefix) ? entry.slice(folderPrefix.length).split('-')[0] : undefined;
    if (pid !== undefined && /^\d+$/.test(pid) && !existsSync(`/proc/${pid}`)) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

/** The name server's table and the names the leaf must cover. */
function tableOf(names: StandInInternetOptions['names'], address: string): { table: [string, string[]][]; served: string[] } {
  const entries = { ...names, ...Object.fromEntries(Object.values(standInHosts).map((host) => [host, 'serve'])) };
  const table = Object.entries(entries).map(([name, target]): [string, string[]] => [
    name.toLowerCase().replace(/\.$/, ''),
    (typeof target === 'string' ? [target] : [...target]).map((value) => (value === 'serve' ? address : value)),
  ]);
  const served = Object.entries(entries)
    .filter(([, target]) => (typeof target === 'string' ? target === 'serve' : target.includes('serve')))
    .map(([name]) => name.toLowerCase().replace(/\.$/, ''));
  return { table, served };
}

/** Starts a stand-in internet; stop it with `stop()` (an `afterAll` in the test that started it). */
export async function startStandInInternet(options: StandInInternetOptions = {}): Promise<StandInInternet> {
  removeStaleFolders();
  const root = mkdtempSync(join(tmpdir(), `${folderPrefix}${process.pid}-`));
  const child: ChildProcess = spawn('unshare', ['--net', '--', process.execPath, insideProgram], { stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
  const requests: StandInRequest[] = [];
  const questions: { name: string; type: number }[] = [];
  const waiting = new Map<number, () => void>();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  let link: NamespaceLink | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    await link?.remove();
    rmSync(root, { recursive: true, force: true });
  };

  const messages = createInterface({ input: child.stdio[3] as Readable });
  let onHello: () => void = () => {};
  let onReady: (error?: Error) => void = () => {};
  const hello = new Promise<void>((resolve) => (onHello = resolve));
  const ready = new Promise<void>((resolve, reject) => (onReady = (error) => (error === undefined ? resolve() : reject(error))));
  messages.on('line', (line) => {
    const message = JSON.parse(line) as InsideMessage;
    if (message.type === 'hello') onHello();
    else if (message.type === 'ready') onReady();
    else if (message.type === 'failed') onReady(new Error(`stand-in internet: the program in the namespace failed: ${message.message}`));
    else if (message.type === 'request') requests.push(message.request);
    else if (message.type === 'question') questions.push({ name: message.name, type: message.recordType });
    else if (message.type === 'settled') waiting.get(message.id)?.();
  });
  child.once('exit', (code, signal) =>
    onReady(new Error(`stand-in internet: the program in the namespace exited (${code ?? signal}) before it was ready: ${stderr}`)),
  );
  const failed = new Promise<never>((_resolve, reject) => child.once('error', reject));

  try {
    // The leaf names no address: it is made while the program starts.
    const leaf = makeTestCertificates(tableOf(options.names, '0.0.0.0').served);
    await Promise.race([hello, failed, ready]);
    if (child.pid === undefined) throw new Error('stand-in internet: unshare did not start');
    // The program says hello only once it runs, so after `unshare` made its namespace: the veth's
    // far end lands there, not on the host.
    link = await linkNamespace(child.pid);
    const { table } = tableOf(options.names, link.insideAddress);
    const tokens = { git: options.gitToken ?? randomBytes(16).toString('hex'), npm: options.npmToken ?? randomBytes(16).toString('hex') };
    const configuration: InsideConfiguration = { root, table, hosts: standInHosts, tokens, npm: options.npm === true, key: leaf.key, cert: leaf.cert };
    child.stdin?.write(`${JSON.stringify({ type: 'start', configuration })}\n`);
    await Promise.race([ready, failed]);
    writeFileSync(join(root, 'resolv.conf'), `nameserver ${link.insideAddress}\noptions attempts:2 timeout:2\n`);
    const resolvConf = join(root, 'resolv.conf');
    let nextId = 0;
    return {
      address: link.insideAddress,
      nameServer: link.insideAddress,
      ca: leaf.ca,
      tokens,
      requests,
      questions,
      link: link.link,
      pid: child.pid,
      settled: () =>
        new Promise<void>((resolve) => {
          const id = nextId++;
          waiting.set(id, () => (waiting.delete(id), resolve()));
          child.stdin?.write(`${JSON.stringify({ type: 'settle', id })}\n`);
        }),
      withNameServer: (argv) => [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        'mount --bind "$0" /etc/resolv.conf && exec "$@"',
        resolvConf,
        ...argv,
      ],
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
