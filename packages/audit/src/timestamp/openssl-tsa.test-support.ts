// A real RFC 3161 timestamp authority for tests: OpenSSL's `ts` command with a throwaway CA and
// TSA certificate (EC P-256 or RSA), so tokens come from an independent implementation.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestTsa {
  /** The TSA certificate (PEM) a verifier trusts. */
  readonly certificate: string;
  /** Another CA-signed certificate without the timeStamping usage, with the TSA's key. */
  readonly certificateWithoutTimestamping: string;
  /** A token over `data` from this TSA. */
  stamp(data: Uint8Array): Uint8Array;
  close(): void;
}

export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function createTestTsa(keyType: 'ec' | 'rsa' = 'ec'): TestTsa {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-tsa-'));
  const file = (name: string) => join(directory, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: directory, stdio: ['ignore', 'pipe', 'pipe'] });
  const newKey = keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
  openssl('req', '-x509', ...newKey, '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=Cairn Test Root', '-days', '3650');
  openssl('req', ...newKey, '-nodes', '-keyout', 'tsa.key', '-out', 'tsa.csr', '-subj', '/CN=Cairn Test TSA');
  writeFileSync(file('tsa.ext'), 'extendedKeyUsage = critical,timeStamping\nkeyUsage = critical,digitalSignature\n');
  writeFileSync(file('plain.ext'), 'keyUsage = critical,digitalSignature\n');
  openssl('x509', '-req', '-in', 'tsa.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tsa.crt', '-days', '3650', '-extfile', 'tsa.ext');
  openssl(
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
    'plain.crt',
    '-days',
    '3650',
    '-extfile',
    'plain.ext',
  );
  writeFileSync(file('serial'), '01\n');
  writeFileSync(
    file('ts.cnf'),
    [
      '[ tsa ]',
      'default_tsa = tsa_config',
      '[ tsa_config ]',
      `serial = ${file('serial')}`,
      'crypto_device = builtin',
      'signer_digest = sha256',
      'default_policy = 1.2.3.4.1',
      'digests = sha256, sha384, sha512',
      'accuracy = secs:1',
      'ess_cert_id_alg = sha256',
      '',
    ].join('\n'),
  );
  let count = 0;
  return {
    certificate: readFileSync(file('tsa.crt'), 'utf8'),
    certificateWithoutTimestamping: readFileSync(file('plain.crt'), 'utf8'),
    stamp(data) {
      const name = `data-${count++}`;
      writeFileSync(file(name), data);
      openssl('ts', '-query', '-data', name, '-sha256', '-cert', '-out', `${name}.tsq`);
      openssl('ts', '-reply', '-config', 'ts.cnf', '-queryfile', `${name}.tsq`, '-inkey', 'tsa.key', '-signer', 'tsa.crt', '-token_out', '-out', `${name}.tsr`);
      return new Uint8Array(readFileSync(file(`${name}.tsr`)));
    },
    close: () => rmSync(directory, { recursive: true, force: true }),
  };
}
