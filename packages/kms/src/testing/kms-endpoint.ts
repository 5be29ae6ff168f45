// A KMS endpoint for tests: no KMS emulator exists on npm or apt. It speaks the AWS JSON 1.1
// protocol on loopback (`POST /`, `X-Amz-Target: TrentService.<Operation>`, blobs as base64) to
// the real `@aws-sdk/client-kms`, with real cryptography: P-256 keys that sign SHA-256 digests
// (ECDSA, DER), and symmetric keys whose data keys are AES-256-GCM-wrapped with the encryption
// context as additional data. Errors have AWS's shape (`{"__type": "...", "message": "..."}`, 400
// or 500). Faithful to the API reference for what Cairn calls; not a product.
import { createCipheriv, createDecipheriv, createHash, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KMSClient } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { p256 } from '@noble/curves/nist.js';

/** The key specs the endpoint makes: Cairn's two, and one of each wrong kind for refusals. */
export type TestKeySpec = 'ECC_NIST_P256' | 'ECC_NIST_P384' | 'SYMMETRIC_DEFAULT';

/** The operations the endpoint answers. */
export type KmsOperationName = 'CreateKey' | 'DescribeKey' | 'GetPublicKey' | 'Sign' | 'GenerateDataKey' | 'Decrypt' | 'DisableKey' | 'EnableKey';

/** A fault to answer instead of the next calls of an operation (`*`: any operation). */
/** `reset`: the connection is cut before an answer; `stall`: no answer at all, until the client gives up. */
export type InjectedFault = 'ThrottlingException' | 'KMSInternalException' | 'DependencyTimeoutException' | 'reset' | 'stall';

interface TestKey {
  readonly id: string;
  readonly arn: string;
  readonly spec: TestKeySpec;
  readonly usage: 'SIGN_VERIFY' | 'ENCRYPT_DECRYPT';
  enabled: boolean;
  readonly createdAt: number;
  /** Asymmetric keys: the private scalar (for noble) and the SPKI DER public key. */
  readonly secretScalar?: Uint8Array;
  readonly privateKey?: KeyObject;
  readonly spki?: Buffer;
  /** Symmetric keys: the AES-256 key material. */
  readonly material?: Buffer;
  readonly denied: Set<string>;
}

/** One request as the endpoint received it (its operation and JSON body). */
export interface RecordedRequest {
  readonly operation: string;
  readonly body: Record<string, unknown>;
}

/** An error KMS answers: its `__type`, message and HTTP status (400 for refusals, 500 for its own failures). */
class KmsError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

const region = 'us-east-1';
const account = '111122223333';
const blobMagic = Buffer.from('CKT1');

/** A KMS endpoint on 127.0.0.1 with keys, aliases, faults and a request log. */
export class KmsTestEndpoint {
  readonly requests: RecordedRequest[] = [];
  readonly #keys = new Map<string, TestKey>();
  readonly #aliases = new Map<string, string>();
  readonly #faults: { operation: string; fault: InjectedFault; remaining: number }[] = [];
  readonly #server: Server;
  #url = '';

  constructor() {
    this.#server = createServer((request, response) => void this.#handle(request, response));
  }

  static async start(): Promise<KmsTestEndpoint> {
    const endpoint = new KmsTestEndpoint();
    await new Promise<void>((resolve) => endpoint.#server.listen(0, '127.0.0.1', resolve));
    endpoint.#url = `http://127.0.0.1:${(endpoint.#server.address() as AddressInfo).port}`;
    return endpoint;
  }

  /** `http://127.0.0.1:<port>`, for the `endpoint` setting. */
  get url(): string {
    return this.#url;
  }

  /** A client for this endpoint with test credentials and the SDK's retries off, as the seams build theirs. */
  client(): KMSClient {
    return new KMSClient({
      region,
      endpoint: this.#url,
      credentials: { accessKeyId: 'AKIDCAIRNTEST', secretAccessKey: 'cairn-test-secret' },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true }),
    });
  }

  /** Makes a key (enabled); answers its key id and ARN. */
  createKey(spec: TestKeySpec): { keyId: string; arn: string } {
    const id = randomUUID();
    const arn = `arn:aws:kms:${region}:${account}:key/${id}`;
    const base = { id, arn, spec, enabled: true, createdAt: Math.floor(Date.now() / 1000), denied: new Set<string>() };
    if (spec === 'SYMMETRIC_DEFAULT') {
      this.#keys.set(id, { ...base, usage: 'ENCRYPT_DECRYPT', material: randomBytes(32) });
    } else {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: spec === 'ECC_NIST_P256' ? 'prime256v1' : 'secp384r1' });
      const scalar = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
      this.#keys.set(id, { ...base, usage: 'SIGN_VERIFY', privateKey, secretScalar: scalar, spki: publicKey.export({ format: 'der', type: 'spki' }) });
    }
    return { keyId: id, arn };
  }

  /** Points `alias/<name>` at a key (again: re-points it, as UpdateAlias does). */
  setAlias(alias: string, keyId: string): string {
    if (!alias.startsWith('alias/')) throw new Error(`an alias starts with alias/: ${alias}`);
    this.#aliases.set(alias, keyId);
    return alias;
  }

  /** Disables or enables a key, as DisableKey/EnableKey do. */
  setEnabled(keyId: string, enabled: boolean): void {
    this.#key(keyId).enabled = enabled;
  }

  /** Refuses an operation on a key with AccessDeniedException, as a key policy without it would. */
  deny(keyId: string, operation: KmsOperationName): void {
    this.#key(keyId).denied.add(operation);
  }

  /** Answers the next `count` calls of `operation` (or any, `*`) with `fault` instead of serving them. */
  inject(operation: KmsOperationName | '*', fault: InjectedFault, count = 1): void {
    this.#faults.push({ operation, fault, remaining: count });
  }

  /** How many requests of an operation arrived (faulted ones included). */
  count(operation: KmsOperationName): number {
    return this.requests.filter((request) => request.operation === operation).length;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
      response.end(text);
    };
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
    let body: Record<string, unknown>;
    try {
      body = chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
    } catch {
      reply(400, { __type: 'SerializationException', message: 'the request body is not JSON' });
      return;
    }
    this.requests.push({ operation, body });
    try {
      if (request.method !== 'POST' || request.url !== '/') throw new KmsError('UnknownOperationException', 'POST / only');
      if (!/^AWS4-HMAC-SHA256 Credential=/.test(String(request.headers['authorization'] ?? ''))) {
        throw new KmsError('MissingAuthenticationTokenException', 'Request is missing Authentication Token');
      }
      if (!String(request.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
        throw new KmsError('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
      }
      const fault = this.#faults.find((candidate) => candidate.remaining > 0 && (candidate.operation === '*' || candidate.operation === operation));
      if (fault) {
        fault.remaining -= 1;
        if (fault.fault === 'reset') {
          request.socket.destroy();
          return;
        }
        if (fault.fault === 'stall') return; // stop() closes the connection, if the client has not

        if (fault.fault === 'ThrottlingException') throw new KmsError('ThrottlingException', 'Rate exceeded');
        throw new KmsError(fault.fault, 'The request failed inside KMS; try again.', 500);
      }
      reply(200, this.#serve(operation, body));
    } catch (error) {
      if (error instanceof KmsError) reply(error.status, { __type: error.type, message: error.message });
      else reply(500, { __type: 'KMSInternalException', message: (error as Error).message });
    }
  }

  #serve(operation: string, body: Record<string, unknown>): Record<string, unknown> {
    switch (operation) {
      case 'DescribeKey': {
        const key = this.#usable(body, operation, { enabledOnly: false });
        return {
          KeyMetadata: {
            AWSAccountId: account,
            KeyId: key.id,
            Arn: key.arn,
            CreationDate: key.createdAt,
            Enabled: key.enabled,
            KeyState: key.enabled ? 'Enabled' : 'Disabled',
            KeyManager: 'CUSTOMER',
            Origin: 'AWS_KMS',
            KeySpec: key.spec,
            CustomerMasterKeySpec: key.spec,
            KeyUsage: key.usage,
            ...(key.usage === 'SIGN_VERIFY'
              ? { SigningAlgorithms: [key.spec === 'ECC_NIST_P256' ? 'ECDSA_SHA_256' : 'ECDSA_SHA_384'] }
              : { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] }),
          },
        };
      }
      case 'GetPublicKey': {
        const key = this.#usable(body, operation);
        if (key.usage !== 'SIGN_VERIFY') throw new KmsError('UnsupportedOperationException', `${key.arn} is a symmetric key: it has no public key.`);
        return {
          KeyId: key.arn,
          PublicKey: key.spki!.toString('base64'),
          KeySpec: key.spec,
          CustomerMasterKeySpec: key.spec,
          KeyUsage: key.usage,
          SigningAlgorithms: [key.spec === 'ECC_NIST_P256' ? 'ECDSA_SHA_256' : 'ECDSA_SHA_384'],
        };
      }
      case 'Sign':
        return this.#sign(body);
      case 'GenerateDataKey': {
        const key = this.#symmetric(body, operation);
        const bytes = body['KeySpec'] === 'AES_256' ? 32 : body['KeySpec'] === 'AES_128' ? 16 : body['NumberOfBytes'];
        if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 1 || bytes > 1024) {
          throw new KmsError('ValidationException', 'Specify either KeySpec (AES_256, AES_128) or NumberOfBytes (1 to 1024).');
        }
        const context = encryptionContextOf(body);
        const plaintext = randomBytes(bytes);
        return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), CiphertextBlob: wrap(key, plaintext, context).toString('base64') };
      }
      case 'Decrypt': {
        const blob = base64Field(body, 'CiphertextBlob');
        const unwrapped = parseBlob(blob);
        const key = unwrapped ? this.#keys.get(unwrapped.keyId) : undefined;
        if (!unwrapped || !key || key.usage !== 'ENCRYPT_DECRYPT') throw invalidCiphertext();
        if (body['KeyId'] !== undefined && this.#resolve(String(body['KeyId'])) !== key) {
          throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
        }
        this.#check(key, operation);
        const decipher = createDecipheriv('aes-256-gcm', key.material!, unwrapped.iv);
        decipher.setAAD(canonicalContext(encryptionContextOf(body)));
        decipher.setAuthTag(unwrapped.tag);
        try {
          const plaintext = Buffer.concat([decipher.update(unwrapped.ciphertext), decipher.final()]);
          return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
        } catch {
          throw invalidCiphertext();
        }
      }
      case 'DisableKey':
      case 'EnableKey':
        this.#usable(body, operation, { enabledOnly: false }).enabled = operation === 'EnableKey';
        return {};
      default:
        throw new KmsError('UnknownOperationException', `the test endpoint does not serve "${operation}"`);
    }
  }

  #sign(body: Record<string, unknown>): Record<string, unknown> {
    const key = this.#usable(body, 'Sign');
    if (key.usage !== 'SIGN_VERIFY') throw new KmsError('InvalidKeyUsageException', `${key.arn} key usage is ENCRYPT_DECRYPT which is not valid for Sign.`);
    const expected = key.spec === 'ECC_NIST_P256' ? 'ECDSA_SHA_256' : 'ECDSA_SHA_384';
    if (body['SigningAlgorithm'] !== expected) {
      throw new KmsError(
        'InvalidKeyUsageException',
        `Signing algorithm ${String(body['SigningAlgorithm'])} is not supported by ${key.spec} keys (use ${expected}).`,
      );
    }
    if (key.spec !== 'ECC_NIST_P256') throw new KmsError('UnsupportedOperationException', 'the test endpoint signs with P-256 keys only');
    const message = base64Field(body, 'Message');
    const messageType = body['MessageType'] ?? 'RAW';
    let digest: Uint8Array;
    if (messageType === 'DIGEST') {
      if (message.byteLength !== 32)
        throw new KmsError('ValidationException', `Digest is invalid length for algorithm ECDSA_SHA_256: ${message.byteLength} bytes, 32 expected.`);
      digest = message;
    } else if (messageType === 'RAW') {
      if (message.byteLength > 4096) throw new KmsError('ValidationException', 'Message length exceeds 4096 bytes; send a digest with MessageType DIGEST.');
      digest = createHash('sha256').update(message).digest();
    } else {
      throw new KmsError('ValidationException', `1 validation error detected: Value '${String(messageType)}' at 'messageType' failed to satisfy constraint`);
    }
    const signature = p256.sign(digest, key.secretScalar!, { prehash: false, format: 'der' });
    return { KeyId: key.arn, Signature: Buffer.from(signature).toString('base64'), SigningAlgorithm: expected };
  }

  #symmetric(body: Record<string, unknown>, operation: string): TestKey {
    const key = this.#usable(body, operation);
    if (key.usage !== 'ENCRYPT_DECRYPT')
      throw new KmsError('InvalidKeyUsageException', `${key.arn} key usage is SIGN_VERIFY which is not valid for ${operation}.`);
    return key;
  }

  /** The key a request names, existing, permitted and (unless asked otherwise) enabled. */
  #usable(body: Record<string, unknown>, operation: string, options: { enabledOnly?: boolean } = {}): TestKey {
    const keyId = body['KeyId'];
    if (typeof keyId !== 'string' || keyId.length === 0)
      throw new KmsError('ValidationException', "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null");
    const key = this.#resolve(keyId);
    if (!key) throw new KmsError('NotFoundException', `Key '${keyId}' does not exist`);
    this.#check(key, operation, options);
    return key;
  }

  #check(key: TestKey, operation: string, options: { enabledOnly?: boolean } = {}): void {
    if (key.denied.has(operation)) {
      throw new KmsError(
        'AccessDeniedException',
        `User: arn:aws:iam::${account}:user/cairn-test is not authorized to perform: kms:${operation} on resource: ${key.arn} because no identity-based policy allows the kms:${operation} action`,
      );
    }
    if ((options.enabledOnly ?? true) && !key.enabled) throw new KmsError('DisabledException', `${key.arn} is disabled.`);
  }

  #resolve(keyId: string): TestKey | undefined {
    const aliasName = keyId.startsWith('alias/') ? keyId : /^arn:aws:kms:[^:]+:\d+:(alias\/.+)$/.exec(keyId)?.[1];
    if (aliasName !== undefined) {
      const target = this.#aliases.get(aliasName);
      return target === undefined ? undefined : this.#keys.get(target);
    }
    const id = /^arn:aws:kms:[^:]+:\d+:key\/(.+)$/.exec(keyId)?.[1] ?? keyId;
    return this.#keys.get(id);
  }

  #key(keyId: string): TestKey {
    const key = this.#resolve(keyId);
    if (!key) throw new Error(`no test key ${keyId}`);
    return key;
  }
}

function invalidCiphertext(): KmsError {
  return new KmsError('InvalidCiphertextException', '');
}

function base64Field(body: Record<string, unknown>, field: string): Buffer {
  const value = body[field];
  if (typeof value !== 'string')
    throw new KmsError('ValidationException', `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  return Buffer.from(value, 'base64');
}

function encryptionContextOf(body: Record<string, unknown>): Record<string, string> {
  const context = body['EncryptionContext'] ?? {};
  if (typeof context !== 'object' || context === null || Array.isArray(context) || Object.values(context).some((value) => typeof value !== 'string')) {
    throw new KmsError('ValidationException', 'EncryptionContext must map strings to strings.');
  }
  if (Object.keys(context).some((key) => key.length === 0)) {
    throw new KmsError(
      'ValidationException',
      '1 validation error detected: an EncryptionContext key failed to satisfy constraint: Member must have length greater than or equal to 1',
    );
  }
  return context as Record<string, string>;
}

/** The context as KMS compares it: by content, whatever the order the client sent. */
function canonicalContext(context: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify(Object.entries(context).sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))));
}

/** An opaque ciphertext blob: magic, key id, IV, tag, and the data key encrypted under the key. */
function wrap(key: TestKey, plaintext: Buffer, context: Record<string, string>): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.material!, iv);
  cipher.setAAD(canonicalContext(context));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const id = Buffer.from(key.id);
  return Buffer.concat([blobMagic, Buffer.from([id.byteLength]), id, iv, cipher.getAuthTag(), ciphertext]);
}

function parseBlob(blob: Buffer): { keyId: string; iv: Buffer; tag: Buffer; ciphertext: Buffer } | undefined {
  if (blob.byteLength < 5 || !blob.subarray(0, 4).equals(blobMagic)) return undefined;
  const idLength = blob[4]!;
  const start = 5 + idLength;
  if (blob.byteLength < start + 28) return undefined;
  return {
    keyId: blob.subarray(5, start).toString('utf8'),
    iv: blob.subarray(start, start + 12),
    tag: blob.subarray(start + 12, start + 28),
    ciphertext: blob.subarray(start + 28),
  };
}
