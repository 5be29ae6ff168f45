import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describeSigner } from '@cairn/conformance';
import { describe, expect, test } from 'vitest';
import { createLocalSigner, type LocalSignerSettings } from './local-signer.ts';
import { thrownBy, temporaryFolders } from '../testing/local.test-support.ts';

describeSigner({
  name: 'local Ed25519 key file',
  create: () => createLocalSigner({ keyFile: join(mkdtempSync(join(tmpdir(), 'cairn-local-signer-')), 'signing.pem'), create: true }),
  // The public key derived from the file with node:crypto, not through the signer.
  oracle: (signer) => ({ publicKey: () => new Uint8Array(createPublicKey(readFileSync(signer.keyFile)).export({ format: 'der', type: 'spki' })) }),
  cleanup: (signer) => rmSync(join(signer.keyFile, '..'), { recursive: true, force: true }),
});

const run = promisify(execFile);

describe('LocalSigner', () => {
  const folder = temporaryFolders('cairn-local-signer-own-');

  test('a key made in folders that do not exist yet: the folders above its own are passable (0711), its own 0700, the key 0600, whatever the umask', () => {
    const dataFolder = join(folder(), 'cairn-data', 'nested');
    const keyFile = join(dataFolder, 'keys', 'signing.pem');
    const umask = process.umask(0o077);
    try {
      createLocalSigner({ keyFile, create: true });
    } finally {
      process.umask(umask);
    }
    const mode = (path: string) => statSync(path).mode & 0o777;
    // Sandboxes of other uids pass through a data folder to their work root under it.
    expect([mode(join(dataFolder, '..')), mode(dataFolder), mode(join(dataFolder, 'keys')), mode(keyFile)]).toEqual([0o711, 0o711, 0o700, 0o600]);
  });

  test('creates the key file as PKCS#8 PEM with mode 0600 (in a 0700 folder it makes), and leaves no temporary file', async () => {
    const base = folder();
    const keyFile = join(base, 'keys', 'signing.pem');
    const signer = createLocalSigner({ keyFile, create: true });
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(base, 'keys')).mode & 0o777).toBe(0o700 & ~process.umask());
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readdirSync(join(base, 'keys'))).toEqual(['signing.pem']);
    const message = new TextEncoder().encode('checkpoint');
    expect(verify(null, message, createPublicKey(readFileSync(keyFile)), await signer.sign(message))).toBe(true);
  });

  test('keyId is sha256 of the SPKI DER public key (what @cairn/audit keyIdOf computes), stable across a reload', async () => {
    const keyFile = join(folder(), 'signing.pem');
    const signer = createLocalSigner({ keyFile, create: true });
    const spki = createPublicKey(readFileSync(keyFile)).export({ format: 'der', type: 'spki' });
    expect(await signer.keyId()).toBe(`sha256:${createHash('sha256').update(spki).digest('hex')}`);
    const reloaded = createLocalSigner({ keyFile, create: true });
    expect(await reloaded.keyId(), 'create: true keeps an existing key').toBe(await signer.keyId());
    expect(Buffer.from(await reloaded.publicKey()).equals(spki)).toBe(true);
  });

  test('processes creating one missing key file at once all end up with the same key', async () => {
    const keyFile = join(folder(), 'shared.pem');
    const script = fileURLToPath(new URL('./signer-key-id.test-support.ts', import.meta.url));
    const keyIds = await Promise.all(
      Array.from({ length: 6 }, async () => (await run(process.execPath, ['--conditions=@cairn/source', script, keyFile])).stdout.trim()),
    );
    expect(new Set(keyIds).size, keyIds.join(', ')).toBe(1);
    expect(await createLocalSigner({ keyFile }).keyId()).toBe(keyIds[0]);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  });

  test.each([0o644, 0o640, 0o604, 0o660])('a key file with mode %s is refused with CAIRN_CONFIG_INVALID saying chmod 600, and no key material', (mode) => {
    const keyFile = join(folder(), 'signing.pem');
    createLocalSigner({ keyFile, create: true });
    chmodSync(keyFile, mode);
    const error = thrownBy(() => createLocalSigner({ keyFile }));
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.path).toBe('local.signer.keyFile');
    expect(error.message).toContain(`chmod 600 ${keyFile}`);
    const body = readFileSync(keyFile, 'utf8').split('\n')[1]!;
    expect(JSON.stringify(error.toJSON())).not.toContain(body.slice(0, 16));
  });

  test('a missing key file without create, a non-key and a non-Ed25519 key are refused naming local.signer.keyFile', () => {
    const base = folder();
    const missing = thrownBy(() => createLocalSigner({ keyFile: join(base, 'absent.pem') }));
    expect(missing.code).toBe('CAIRN_CONFIG_INVALID');
    expect(missing.message).toContain('create: true');
    writeFileSync(join(base, 'garbage.pem'), 'not a key at all', { mode: 0o600 });
    expect(thrownBy(() => createLocalSigner({ keyFile: join(base, 'garbage.pem') })).message).toContain('PKCS#8');
    const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    writeFileSync(join(base, 'p256.pem'), p256, { mode: 0o600 });
    const wrongType = thrownBy(() => createLocalSigner({ keyFile: join(base, 'p256.pem') }));
    expect(wrongType.path).toBe('local.signer.keyFile');
    expect(wrongType.message).toContain('Ed25519 only');
  });

  test('a key file in a folder that cannot be created is CAIRN_SIGNER_FAILED naming the file', () => {
    const base = folder();
    writeFileSync(join(base, 'a-file'), 'x');
    const error = thrownBy(() => createLocalSigner({ keyFile: join(base, 'a-file', 'signing.pem'), create: true }));
    expect(error.code).toBe('CAIRN_SIGNER_FAILED');
    expect(error.message).toContain(join(base, 'a-file', 'signing.pem'));
  });

  test.each([
    [{}, 'local.signer.keyFile'],
    [{ keyFile: '' }, 'local.signer.keyFile'],
    [{ keyFile: '/tmp/k.pem', create: 'yes' }, 'local.signer.create'],
    [{ keyFile: '/tmp/k.pem', algorithm: 'ecdsa' }, 'local.signer.algorithm'],
  ])('settings %j are refused with CAIRN_CONFIG_INVALID naming %s', (settings, path) => {
    const error = thrownBy(() => createLocalSigner(settings as unknown as LocalSignerSettings));
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.path).toBe(path);
    expect(error.message).toContain(path);
  });
});
