import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What a test asks the TSA to do with the next queries. */
export type TestTsaBehaviour =
  /** Answer each query with `openssl ts -reply`. */
  | 'grant'
  /** Answer 503, as a TSA that is down for maintenance. */
  | 'unavailable'
  /** Answer a query openssl rejects (SHA-1 is not among its accepted digests): status rejection, badAlg. */
  | 'reject'
  /** Stamp the same hash, but under a fresh nonce (a reply to another request). */
  | 'other-nonce'
  /** Stamp this hash (hex) with this algorithm instead of what was asked (another checkpoint, another hash). */
  | { readonly digest: string; readonly algorithm: 'sha256' | 'sha384' | 'sha512' };

/**
 * A real RFC 3161 timestamp authority for tests: OpenSSL's `ts -reply` with a throwaway CA and an
 * EC P-256 TSA certificate, behind an HTTP handler on loopback speaking RFC 3161's transport
 * (`POST` application/timestamp-query → application/timestamp-reply). The tokens come from an
 * independent implementation, not from Cairn's own encoder.
 */
export class OpensslTestTsa {
  /** The TSA certificate (PEM) a client trusts. */
  readonly certificate: string;
  /** A certificate of the same key, signed by the CA, without the timeStamping usage. */
  readonly certificateWithoutTimestamping: string;
  /** `http://127.0.0.1:<port>/tsr`. */
  url = '';
  /** What the next queries get. */
  behaviour: TestTsaBehaviour = 'grant';
  /** Every query received (DER), in order. */
  readonly queries: Uint8Array[] = [];
  readonly #directory: string;
  readonly #server: Server;
  #count = 0;

  private constructor(directory: string) {
    this.#directory = directory;
    this.certificate = readFileSync(join(directory, 'tsa.crt'), 'utf8');
    this.certificateWithoutTimestamping = readFileSync(join(directory, 'plain.crt'), 'utf8');
    this.#server = createServer((request, response) => {
      const parts: Buffer[] = [];
      request.on('data', (part: Buffer) => parts.push(part));
      request.on('end', () => {
        this.#answer(request.method ?? '', request.headers['content-type'] ?? '', Buffer.concat(parts)).then(
          ({ status, type, body }) => {
            response.writeHead(status, { 'content-type': type, 'content-length': body.length });
            response.end(body);
          },
          (error: Error) => {
            response.writeHead(500, { 'content-type': 'text/plain' });
            response.end(error.message);
          },
        );
      });
    });
  }

  /**
   * Makes the CA and TSA certificates and listens on a free loopback port. `keyType` picks the
   * TSA's key (EC P-256 by default, or RSA 2048); `optionalFields` makes openssl also write the
   * TSTInfo's optional `ordering` and `tsa` name fields, as some TSAs do.
   */
  static async start(options: { readonly keyType?: 'ec' | 'rsa'; readonly optionalFields?: boolean } = {}): Promise<OpensslTestTsa> {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-tsa-'));
    const openssl = (...args: string[]) => run('openssl', args, { cwd: directory });
    const newKey = options.keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
    await openssl('req', '-x509', ...newKey, '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=Cairn Test Root', '-days', '3650');
    await openssl('req', ...newKey, '-nodes', '-keyout', 'tsa.key', '-out', 'tsa.csr', '-subj', '/CN=Cairn Test TSA', '-days', '3650');
    writeFileSync(join(directory, 'tsa.ext'), 'extendedKeyUsage = critical,timeStamping\nkeyUsage = critical,digitalSignature\n');
    writeFileSync(join(directory, 'plain.ext'), 'keyUsage = critical,digitalSignature\n');
    for (const [name, extensions] of [
      ['tsa.crt', 'tsa.ext'],
      ['plain.crt', 'plain.ext'],
    ] as const) {
      await openssl(
        'x509',
        '-req',
        '-in',
        'tsa.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        name,
        '-days',
        '3650',
        '-extfile',
        extensions,
      );
    }
    writeFileSync(join(directory, 'serial'), '01\n');
    writeFileSync(
      join(directory, 'ts.cnf'),
      [
        '[ tsa ]',
        'default_tsa = tsa_config',
        '[ tsa_config ]',
        `serial = ${join(directory, 'serial')}`,
        'crypto_device = builtin',
        'signer_digest = sha256',
        'default_policy = 1.2.3.4.1',
        'digests = sha256, sha384, sha512',
        'accuracy = secs:1',
        'ess_cert_id_alg = sha256',
        ...(options.optionalFields ? ['ordering = yes', 'tsa_name = yes'] : []),
        '',
      ].join('\n'),
    );
    const tsa = new OpensslTestTsa(directory);
    await new Promise<void>((resolve) => tsa.#server.listen(0, '127.0.0.1', resolve));
    tsa.url = `http://127.0.0.1:${(tsa.#server.address() as AddressInfo).port}/tsr`;
    return tsa;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#directory, { recursive: true, force: true });
  }

  async #answer(method: string, contentType: string, query: Buffer): Promise<{ status: number; type: string; body: Buffer }> {
    if (method !== 'POST' || contentType.split(';')[0]!.trim() !== 'application/timestamp-query') {
      return { status: 415, type: 'text/plain', body: Buffer.from('POST an application/timestamp-query\n') };
    }
    this.queries.push(new Uint8Array(query));
    if (this.behaviour === 'unavailable') return { status: 503, type: 'text/plain', body: Buffer.from('maintenance\n') };
    const name = `query-${this.#count++}`;
    const file = (suffix: string) => join(this.#directory, `${name}.${suffix}`);
    writeFileSync(file('tsq'), query);
    if (this.behaviour !== 'grant') {
      // Replace the query with one openssl makes itself, so the TSA answers another request.
      const hash = await this.#hashOf(file('tsq'));
      const [digest, algorithm] =
        typeof this.behaviour === 'object'
          ? [this.behaviour.digest, `-${this.behaviour.algorithm}`]
          : this.behaviour === 'reject'
            ? [hash.slice(0, 40), '-sha1']
            : [hash, '-sha256'];
      await run('openssl', ['ts', '-query', '-digest', digest, algorithm, '-cert', '-out', file('tsq')], { cwd: this.#directory });
    }
    await run('openssl', ['ts', '-reply', '-config', 'ts.cnf', '-queryfile', file('tsq'), '-inkey', 'tsa.key', '-signer', 'tsa.crt', '-out', file('tsr')], {
      cwd: this.#directory,
    });
    return { status: 200, type: 'application/timestamp-reply', body: readFileSync(file('tsr')) };
  }

  /** The hex hash a query asks to stamp, as openssl's own DER parser reads it (the first OCTET STRING). */
  async #hashOf(path: string): Promise<string> {
    const { stdout } = await run('openssl', ['asn1parse', '-inform', 'DER', '-in', path], { cwd: this.#directory });
    const match = /OCTET STRING\s+\[HEX DUMP\]:([0-9A-F]+)/.exec(stdout);
    if (!match) throw new Error(`no message imprint in the query:\n${stdout}`);
    return match[1]!.toLowerCase();
  }
}
