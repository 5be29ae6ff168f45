import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describeCipher } from '@cairn/conformance';
import { describe, expect, test } from 'vitest';
import { createLocalCipher, type LocalCipherSettings } from './local-cipher.ts';
import { thrownBy, rejection, temporaryFolders } from '../testing/local.test-support.ts';

describeCipher({
  name: 'local AES-256-GCM key file',
  create: () => createLocalCipher({ keyFile: join(mkdtempSync(join(tmpdir(), 'cairn-local-cipher-')), 'cipher.key'), create: true }),
  cleanup: (cipher) => rmSync(join(cipher.keyFile, '..'), { recursive: true, force: true }),
});

const utf8 = (text: string) => new TextEncoder().encode(text);
const context = { secret: 'GITHUB_TOKEN', scope: 'run:abc' };

describe('LocalCipher', () => {
  const folder = temporaryFolders('cairn-local-cipher-own-');

  test('creates a 32-byte key file with mode 0600 and no temporary file; a reload decrypts what was encrypted', async () => {
    const base = folder();
    const keyFile = join(base, 'cipher.key');
    const envelope = await createLocalCipher({ keyFile, create: true }).encrypt(utf8('ghp_secret'), context);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(keyFile).size).toBe(32);
    expect(readdirSync(base)).toEqual(['cipher.key']);
    const reloaded = createLocalCipher({ keyFile });
    expect(new TextDecoder().decode(await reloaded.decrypt(envelope, context))).toBe('ghp_secret');
    expect(envelope).toMatchObject({ version: 1, algorithm: 'A256GCM', keyId: reloaded.keyId });
    expect(Buffer.from(envelope.iv, 'base64')).toHaveLength(12);
  });

  test('the key id names the key without revealing it, and the key never shows in an inspected cipher', () => {
    const keyFile = join(folder(), 'cipher.key');
    const cipher = createLocalCipher({ keyFile, create: true });
    const key = readFileSync(keyFile);
    expect(cipher.keyId).toMatch(/^local:[0-9a-f]{32}$/);
    const shown = `${cipher.keyId} ${inspect(cipher, { showHidden: true, depth: 5 })} ${JSON.stringify(cipher)}`;
    for (const encoded of [key.toString('hex'), key.toString('base64'), key.toString('hex').slice(0, 16)]) expect(shown).not.toContain(encoded);
  });

  test('an envelope from another key is CAIRN_CIPHER_DECRYPT_FAILED naming both key ids; so is an edited key id', async () => {
    const [first, second] = [
      createLocalCipher({ keyFile: join(folder(), 'a.key'), create: true }),
      createLocalCipher({ keyFile: join(folder(), 'b.key'), create: true }),
    ];
    const envelope = await first.encrypt(utf8('x'), context);
    const error = await rejection(second.decrypt(envelope, context));
    expect(error.code).toBe('CAIRN_CIPHER_DECRYPT_FAILED');
    expect(error.message).toContain(first.keyId);
    expect(error.message).toContain(second.keyId);
    // Relabelled to the other key, it still fails: the key id is a label, the tag is the check.
    expect((await rejection(second.decrypt({ ...envelope, keyId: second.keyId }, context))).code).toBe('CAIRN_CIPHER_DECRYPT_FAILED');
  });

  test('malformed envelopes are CAIRN_CIPHER_DECRYPT_FAILED, never a TypeError', async () => {
    const cipher = createLocalCipher({ keyFile: join(folder(), 'c.key'), create: true });
    const envelope = await cipher.encrypt(utf8('x'), context);
    for (const bad of [
      { ...envelope, iv: 'not base64!' },
      { ...envelope, iv: Buffer.alloc(16).toString('base64') },
      { ...envelope, tag: undefined },
      { ...envelope, algorithm: 'A128GCM' },
      { ...envelope, version: 2 },
      { ...envelope, encryptedKey: 'AAAA' },
      null,
    ]) {
      expect((await rejection(cipher.decrypt(bad as never, context))).code, JSON.stringify(bad)).toBe('CAIRN_CIPHER_DECRYPT_FAILED');
    }
  });

  test.each([0o644, 0o640, 0o660])('a key file with mode %s is refused with CAIRN_CONFIG_INVALID saying chmod 600', (mode) => {
    const keyFile = join(folder(), 'cipher.key');
    createLocalCipher({ keyFile, create: true });
    chmodSync(keyFile, mode);
    const error = thrownBy(() => createLocalCipher({ keyFile }));
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.path).toBe('local.cipher.keyFile');
    expect(error.message).toContain(`chmod 600 ${keyFile}`);
  });

  test('a key file of the wrong size, or missing without create, is refused naming local.cipher.keyFile', () => {
    const base = folder();
    writeFileSync(join(base, 'short.key'), Buffer.alloc(16, 1), { mode: 0o600 });
    const short = thrownBy(() => createLocalCipher({ keyFile: join(base, 'short.key') }));
    expect(short.path).toBe('local.cipher.keyFile');
    expect(short.message).toContain('16 bytes');
    const missing = thrownBy(() => createLocalCipher({ keyFile: join(base, 'absent.key') }));
    expect(missing.code).toBe('CAIRN_CONFIG_INVALID');
    expect(missing.message).toContain('create: true');
  });

  test.each([
    [{}, 'local.cipher.keyFile'],
    [{ keyFile: 7 }, 'local.cipher.keyFile'],
    [{ keyFile: '/tmp/c.key', create: 1 }, 'local.cipher.create'],
    [{ keyFile: '/tmp/c.key', key: 'inline' }, 'local.cipher.key'],
  ])('settings %j are refused with CAIRN_CONFIG_INVALID naming %s', (settings, path) => {
    const error = thrownBy(() => createLocalCipher(settings as unknown as LocalCipherSettings));
    expect(error.code).toBe('CAIRN_CONFIG_INVALID');
    expect(error.path).toBe(path);
    expect(error.message).toContain(path);
  });
});
