import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';

type X509Library = typeof import('@peculiar/x509');

let library: Promise<X509Library> | undefined;

/**
 * @peculiar/x509 resolves its parts through tsyringe, which throws at import without a Reflect
 * metadata polyfill. Both are loaded here, when the first CA is made, so that importing the worker
 * does nothing (the package is `sideEffects: false`) and a worker without credentials never loads them.
 */
function x509(): Promise<X509Library> {
  library ??= import('reflect-metadata').then(() => import('@peculiar/x509'));
  return library;
}

const algorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
// A day back absorbs a sandbox clock behind the worker's; a week ahead outlives any attempt.
const backdateMs = 24 * 60 * 60 * 1000;
const lifetimeMs = 7 * 24 * 60 * 60 * 1000;

/** A leaf for one host: its certificate (PEM) and the TLS context serving it. */
export interface AttemptLeaf {
  readonly certificate: string;
  readonly context: SecureContext;
}

/**
 * An attempt's certificate authority (ADR 0049): its certificate is what the sandbox trusts for
 * hosts with a credential binding; its private key is a non-extractable WebCrypto key, so it
 * exists in this process's memory alone and is gone with the attempt. Leaves are issued per host
 * on first use and kept, so a host's second connection costs no signature.
 */
export class AttemptCertificateAuthority {
  readonly #library: X509Library;
  readonly #keys: webcrypto.CryptoKeyPair;
  readonly #certificate: InstanceType<X509Library['X509Certificate']>;
  readonly #leaves = new Map<string, Promise<AttemptLeaf>>();

  private constructor(library: X509Library, keys: webcrypto.CryptoKeyPair, certificate: InstanceType<X509Library['X509Certificate']>) {
    this.#library = library;
    this.#keys = keys;
    this.#certificate = certificate;
  }

  static async create(now: Date = new Date()): Promise<AttemptCertificateAuthority> {
    const library = await x509();
    const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
    const certificate = await library.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: serialNumber(),
        // Random in the name too: two attempts' CAs never read as one in a trust bundle or a log.
        name: `CN=cairn attempt CA ${randomBytes(6).toString('hex')}`,
        notBefore: new Date(now.getTime() - backdateMs),
        notAfter: new Date(now.getTime() + lifetimeMs),
        keys,
        signingAlgorithm,
        extensions: [
          // pathLength 0: the CA signs leaves only, never another CA.
          new library.BasicConstraintsExtension(true, 0, true),
          new library.KeyUsagesExtension(library.KeyUsageFlags.keyCertSign | library.KeyUsageFlags.cRLSign, true),
          await library.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        ],
      },
      webcrypto,
    );
    return new AttemptCertificateAuthority(library, keys, certificate);
  }

  /** The CA's certificate, PEM: what goes into the sandbox's trust bundle. */
  get certificate(): string {
    return this.#certificate.toString('pem');
  }

  /** The leaf for `host` (a normalised host name), issued once per CA. */
  leaf(host: string, now: Date = new Date()): Promise<AttemptLeaf> {
    let leaf = this.#leaves.get(host);
    if (leaf === undefined) {
      leaf = this.#issue(host, now);
      this.#leaves.set(host, leaf);
      // A failed issue is not kept: the next connection tries again.
      leaf.catch(() => this.#leaves.delete(host));
    }
    return leaf;
  }

  async #issue(host: string, now: Date): Promise<AttemptLeaf> {
    const library = this.#library;
    // The leaf's key must be exported for OpenSSL to serve it; it signs handshakes for this one host only.
    const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
    const certificate = await library.X509CertificateGenerator.create(
      {
        serialNumber: serialNumber(),
        subject: `CN=${host}`,
        issuer: this.#certificate.subject,
        notBefore: new Date(now.getTime() - backdateMs),
        notAfter: new Date(now.getTime() + lifetimeMs),
        publicKey: keys.publicKey,
        signingKey: this.#keys.privateKey,
        signingAlgorithm,
        extensions: [
          new library.BasicConstraintsExtension(false, undefined, true),
          new library.KeyUsagesExtension(library.KeyUsageFlags.digitalSignature, true),
          new library.ExtendedKeyUsageExtension([library.ExtendedKeyUsage.serverAuth]),
          new library.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
          await library.AuthorityKeyIdentifierExtension.create(this.#keys.publicKey, false, webcrypto),
          await library.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        ],
      },
      webcrypto,
    );
    const pem = certificate.toString('pem');
    const key = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' });
    return { certificate: pem, context: createSecureContext({ key, cert: pem }) };
  }
}

/** A positive 128-bit serial (RFC 5280 §4.1.2.2: unique per issuer, at most 20 octets), as hex. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}
