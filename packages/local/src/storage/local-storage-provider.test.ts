import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describeStorageProvider } from '@cairn/conformance';
import { isCairnError, type CairnError } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { createLocalStorageProvider, LocalStorageProvider } from './local-storage-provider.ts';
import { rejection, temporaryFolders } from '../testing/local.test-support.ts';

const run = promisify(execFile);
const utf8 = (text: string) => new TextEncoder().encode(text);
const sha256Hex = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

const isFolder = (path: string) => existsSync(path) && lstatSync(path).isDirectory();

/**
 * Where a key's bytes are on disk, worked out again here from the documented layout rather than
 * taken from the provider: `a/b` is `<root>/a/b`; a folder or an object whose plain name the
 * other holds uses the name and a backslash; a key with a segment over 254 bytes lives under
 * `.cairn\long-keys/<sha256 of the key>`. With `create`, makes the folders on the way.
 */
function pathOf(root: string, key: string, create = false): string {
  const segments = key.split('/');
  if (segments.some((segment) => Buffer.byteLength(segment) > 254)) return join(root, '.cairn\\long-keys', sha256Hex(key));
  let directory = root;
  for (const segment of segments.slice(0, -1)) {
    const plain = join(directory, segment);
    const alternate = `${plain}\\`;
    if (isFolder(plain)) directory = plain;
    else if (isFolder(alternate)) directory = alternate;
    else if (!create) return join(directory, ...segments);
    else {
      directory = existsSync(plain) ? alternate : plain;
      mkdirSync(directory);
    }
  }
  const plain = join(directory, segments[segments.length - 1]!);
  return isFolder(plain) ? `${plain}\\` : plain;
}

async function readOrNull(path: string): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if (['ENOENT', 'ENOTDIR', 'EISDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) return null;
    throw error;
  }
}

describeStorageProvider({
  name: 'local directory',
  create: () => createLocalStorageProvider({ root: mkdtempSync(join(tmpdir(), 'cairn-local-storage-')) }),
  oracle: (storage) => ({
    readRaw: (key) => readOrNull(pathOf(storage.root, key)),
    writeRaw: async (key, body) => {
      const path = pathOf(storage.root, key, true);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, body);
      if (path.includes('.cairn\\long-keys')) await writeFile(`${path}.key`, key);
    },
  }),
  cleanup: (storage) => rm(storage.root, { recursive: true, force: true }),
});

describe('LocalStorageProvider', () => {
  const folder = temporaryFolders('cairn-local-storage-own-');
  /** A fresh sandbox folder holding `root/` (the store) and `outside/` (what no key may reach). */
  function sandbox(): { root: string; outside: string; storage: LocalStorageProvider } {
    const base = folder();
    const root = join(base, 'root');
    const outside = join(base, 'outside');
    mkdirSync(root);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'outside the root');
    return { root, outside, storage: createLocalStorageProvider({ root }) };
  }

  describe('settings', () => {
    test.each([
      [{}, 'local.storage.root'],
      [{ root: '' }, 'local.storage.root'],
      [{ root: 42 }, 'local.storage.root'],
      [{ root: 'a\u0000b' }, 'local.storage.root'],
      [{ root: '/tmp/x', rooot: '/tmp/y' }, 'local.storage.rooot'],
    ])('%j is refused with CAIRN_CONFIG_INVALID naming %s', (settings, path) => {
      let thrown: unknown;
      try {
        createLocalStorageProvider(settings as never);
      } catch (error) {
        thrown = error;
      }
      expect(isCairnError(thrown, 'CAIRN_CONFIG_INVALID')).toBe(true);
      expect((thrown as CairnError).path).toBe(path);
      expect((thrown as CairnError).message).toContain(path);
    });

    test('a relative root is resolved against the working directory, and created on first use', async () => {
      const { root } = sandbox();
      const storage = createLocalStorageProvider({ root: join(root, 'deeper', 'store') });
      expect(storage.root).toBe(join(root, 'deeper', 'store'));
      await storage.put('a', utf8('x'));
      expect(statSync(join(root, 'deeper', 'store', 'a')).isFile()).toBe(true);
      expect(createLocalStorageProvider({ root: 'relative/store' }).root).toBe(join(process.cwd(), 'relative/store'));
    });
  });

  describe('no key resolves outside the root', () => {
    test('dot segments and absolute keys are refused before any I/O, and nothing is written outside', async () => {
      const { root, outside, storage } = sandbox();
      for (const key of ['../outside/secret', 'a/../../outside/x', '/etc/passwd', `${'../'.repeat(5)}tmp/x`, 'a\\..\\..\\x']) {
        const error = await rejection(storage.put(key, utf8('escaped')));
        expect(error.code, key).toBe('CAIRN_STORAGE_KEY_INVALID');
        expect((await rejection(storage.get(key))).code).toBe('CAIRN_STORAGE_KEY_INVALID');
      }
      expect(readdirSync(outside)).toEqual(['secret']);
      // Refused before any I/O: not even the root was created for them.
      const fresh = createLocalStorageProvider({ root: join(root, 'never-created') });
      await rejection(fresh.put('../x', utf8('x')));
      expect(readdirSync(root)).toEqual([]);
    });

    test('a lone surrogate is refused: on disk it would share a name with U+FFFD', async () => {
      const { storage } = sandbox();
      expect((await rejection(storage.put('a/\uD800', utf8('x')))).code).toBe('CAIRN_STORAGE_KEY_INVALID');
    });

    test('a symbolic link to a folder outside, planted inside the root, is never followed', async () => {
      const { root, outside, storage } = sandbox();
      symlinkSync(outside, join(root, 'planted'));
      for (const operation of [
        () => storage.put('planted/new', utf8('escaped')),
        () => storage.put('planted/new', utf8('escaped'), { ifAbsent: true }),
        () => storage.get('planted/secret'),
        () => storage.head('planted/secret'),
        () => storage.delete('planted/secret'),
      ]) {
        const error = await rejection(operation());
        expect(error.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
        expect(error.message).toContain(join(root, 'planted'));
        expect(error.message).toContain('symbolic link');
      }
      expect(readdirSync(outside)).toEqual(['secret']);
      expect((await storage.list()).keys, 'the link is not listed, nor what is behind it').toEqual([]);
    });

    test('a link deeper down, and a link planted as an object, are refused too', async () => {
      const { root, outside, storage } = sandbox();
      await storage.put('deep/a/b/real', utf8('inside'));
      symlinkSync(outside, join(root, 'deep', 'a', 'escape'));
      symlinkSync(join(outside, 'secret'), join(root, 'deep', 'a', 'b', 'file-link'));
      expect((await rejection(storage.put('deep/a/escape/x', utf8('x')))).code).toBe('CAIRN_STORAGE_UNAVAILABLE');
      expect((await rejection(storage.get('deep/a/b/file-link'))).message).toContain('symbolic link');
      expect((await rejection(storage.head('deep/a/b/file-link'))).message).toContain('symbolic link');
      expect((await rejection(storage.put('deep/a/b/file-link', utf8('x'), { ifAbsent: true }))).message).toContain('symbolic link');
      expect((await storage.list()).keys).toEqual(['deep/a/b/real']);
      expect((await rejection(storage.put('deep/a/b/file-link', utf8('x')))).message).toContain('symbolic link');
      expect(readdirSync(outside)).toEqual(['secret']);
      expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('outside the root');
      expect((await rejection(storage.delete('deep/a/b/file-link'))).message).toContain('symbolic link');
      expect(lstatSync(join(root, 'deep/a/b/file-link')).isSymbolicLink(), 'the link is left for the operator to look at').toBe(true);
    });
  });

  describe('writes', () => {
    test('50 concurrent if-absent puts of one key, from two instances: exactly one is written, and its body is stored', async () => {
      const { root, storage } = sandbox();
      const other = createLocalStorageProvider({ root });
      const bodies = Array.from({ length: 50 }, (_, index) => utf8(`contender ${index} `.repeat(index * 100 + 1)));
      const results = await Promise.all(bodies.map((body, index) => (index % 2 === 0 ? storage : other).put('race/new/deeper/one', body, { ifAbsent: true })));
      const winners = results.flatMap((result, index) => (result.written ? [index] : []));
      expect(winners).toHaveLength(1);
      expect(Buffer.from((await storage.get('race/new/deeper/one'))!).equals(Buffer.from(bodies[winners[0]!]!))).toBe(true);
      expect(readdirSync(join(root, 'race/new/deeper')), 'no temporary file is left behind').toEqual(['one']);
    });

    test('5 processes making 10 concurrent if-absent puts each: exactly one of the 50 is written', async () => {
      const { root, storage } = sandbox();
      const contender = fileURLToPath(new URL('./if-absent-contender.test-support.ts', import.meta.url));
      const counts = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const { stdout } = await run(process.execPath, ['--conditions=@cairn/source', contender, root, 'race/across/processes', '10']);
          return Number(stdout.trim());
        }),
      );
      expect(
        counts.reduce((sum, count) => sum + count, 0),
        `written per process: ${counts.join(', ')}`,
      ).toBe(1);
      expect(new TextDecoder().decode((await storage.get('race/across/processes'))!)).toMatch(/^process \d+ put \d$/);
    });

    test('a reader never sees a torn body while a 4 MiB object is overwritten again and again', async () => {
      const { storage } = sandbox();
      const bodies = [new Uint8Array(4 << 20).fill(0xaa), new Uint8Array(4 << 20).fill(0x55)];
      await storage.put('torn/big', bodies[0]!);
      let writing = true;
      const writer = (async () => {
        for (let round = 1; round <= 12; round += 1) await storage.put('torn/big', bodies[round % 2]!);
        writing = false;
      })();
      let reads = 0;
      while (writing) {
        const read = (await storage.get('torn/big'))!;
        expect(read.byteLength).toBe(4 << 20);
        expect(
          read.every((value) => value === read[0]),
          'a body is all one value: old or new, never a mix',
        ).toBe(true);
        reads += 1;
      }
      await writer;
      expect(reads).toBeGreaterThan(0);
    });

    test('a temporary file left by a crash mid-write is never listed, read or mistaken for the object', async () => {
      const { root, storage } = sandbox();
      await storage.put('crash/object', utf8('the complete old body'));
      // What a writer killed between creating and renaming its temporary file leaves behind.
      writeFileSync(join(root, 'crash', '.cairn\\tmp-0123456789abcdef'), 'the new bo');
      writeFileSync(join(root, '.cairn\\tmp-fedcba9876543210'), '');
      expect((await storage.list()).keys).toEqual(['crash/object']);
      expect(new TextDecoder().decode((await storage.get('crash/object'))!)).toBe('the complete old body');
      expect((await storage.head('crash/object'))?.size).toBe(21);
    });

    test('files are created 0644 and folders 0755 (as narrowed by the umask)', async () => {
      const { root, storage } = sandbox();
      const umask = process.umask();
      await storage.put('modes/deep/file', utf8('x'));
      await storage.put('modes/deep/once', utf8('x'), { ifAbsent: true });
      expect(statSync(join(root, 'modes/deep/file')).mode & 0o777).toBe(0o644 & ~umask);
      expect(statSync(join(root, 'modes/deep/once')).mode & 0o777).toBe(0o644 & ~umask);
      expect(statSync(join(root, 'modes/deep')).mode & 0o777).toBe(0o755 & ~umask);
    });

    test('a key can be an object and a folder at once, in either order: the second takes the name with a backslash', async () => {
      const { root, storage } = sandbox();
      await storage.put('both/a', utf8('object first'));
      await storage.put('both/a/1', utf8('below it'));
      await storage.put('both/b/1', utf8('folder first'));
      await storage.put('both/b', utf8('object second'), { ifAbsent: true });
      expect(readdirSync(join(root, 'both')).sort()).toEqual(['a', 'a\\', 'b', 'b\\']);
      expect(lstatSync(join(root, 'both', 'a\\')).isDirectory(), 'the folder came second: a\\').toBe(true);
      expect(lstatSync(join(root, 'both', 'b\\')).isFile(), 'the object came second: b\\').toBe(true);
      expect((await storage.list({ prefix: 'both/' })).keys).toEqual(['both/a', 'both/a/1', 'both/b', 'both/b/1']);
      expect(new TextDecoder().decode((await storage.get('both/b'))!)).toBe('object second');
      expect((await storage.head('both/b'))?.size).toBe(13);
      expect((await storage.put('both/b', utf8('again'), { ifAbsent: true })).written).toBe(false);
      await storage.put('both/b', utf8('replaced'));
      expect(new TextDecoder().decode((await storage.get('both/b'))!)).toBe('replaced');
      // The object goes and comes back; the folder stays where it is, so nothing ever moves.
      await storage.delete('both/a');
      expect((await storage.list({ prefix: 'both/a' })).keys).toEqual(['both/a/1']);
      await storage.put('both/a/2', utf8('still in a\\'));
      await storage.put('both/a', utf8('back'));
      expect((await storage.list({ prefix: 'both/a' })).keys).toEqual(['both/a', 'both/a/1', 'both/a/2']);
      await storage.delete('both/b');
      expect(await storage.get('both/b')).toBeNull();
      expect(await storage.get('both/b/1')).not.toBeNull();
    });

    test('something put in the way by hand is named, not guessed around', async () => {
      const { root, storage } = sandbox();
      mkdirSync(join(root, 'odd'));
      writeFileSync(join(root, 'odd', 'x'), 'an object');
      writeFileSync(join(root, 'odd', 'x\\'), 'a file where the folder x/ would go');
      const error = await rejection(storage.put('odd/x/y', utf8('x')));
      expect(error.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
      expect(error.message).toContain(join(root, 'odd', 'x'));
    });
  });

  describe('content-addressed keys', () => {
    const body = utf8('a workspace snapshot');
    const hex = sha256Hex(body);

    test('an altered blob is refused with CAIRN_DIGEST_MISMATCH naming the key', async () => {
      const { root, storage } = sandbox();
      await storage.put(`blobs/${hex}`, body);
      expect(Buffer.from((await storage.get(`blobs/${hex}`))!).equals(Buffer.from(body))).toBe(true);
      writeFileSync(join(root, 'blobs', hex), 'a workspace snapshoT');
      const error = await rejection(storage.get(`blobs/${hex}`));
      expect(error.code).toBe('CAIRN_DIGEST_MISMATCH');
      expect(error.message).toContain(`blobs/${hex}`);
      expect(error.details).toMatchObject({ key: `blobs/${hex}`, expected: `sha256:${hex}` });
    });

    test('a stream of an altered blob fails with CAIRN_DIGEST_MISMATCH before its last chunk; a sound one ends cleanly', async () => {
      const { root, storage } = sandbox();
      await storage.put(`blobs/${hex}`, body);
      const sound: Uint8Array[] = [];
      for await (const chunk of (await storage.getStream(`blobs/${hex}`))!) sound.push(chunk);
      expect(Buffer.concat(sound).equals(Buffer.from(body))).toBe(true);
      writeFileSync(join(root, 'blobs', hex), 'a workspace snapshoT');
      const received: Uint8Array[] = [];
      const error = await rejection(
        (async () => {
          for await (const chunk of (await storage.getStream(`blobs/${hex}`))!) received.push(chunk);
        })(),
      );
      expect(received).toEqual([]);
      expect([error.code, error.details]).toEqual(['CAIRN_DIGEST_MISMATCH', expect.objectContaining({ key: `blobs/${hex}`, expected: `sha256:${hex}` })]);
    });

    test('a manifest key is checked the same way; other keys are not content-addressed', async () => {
      const { root, storage } = sandbox();
      await storage.put(`manifests/${hex}.json`, body);
      writeFileSync(join(root, 'manifests', `${hex}.json`), 'altered');
      expect((await rejection(storage.get(`manifests/${hex}.json`))).code).toBe('CAIRN_DIGEST_MISMATCH');
      await storage.put(`results/${hex}`, utf8('anything'));
      await storage.put(`blobs/${hex}/child`, utf8('anything'));
      await storage.put(`blobs/${hex.toUpperCase()}`, utf8('anything'));
      expect((await storage.list({ prefix: 'results/' })).keys).toEqual([`results/${hex}`]);
    });

    test('putting bytes that do not match the digest a key names is refused, and writes nothing', async () => {
      const { root, storage } = sandbox();
      const error = await rejection(storage.put(`blobs/${hex}`, utf8('other bytes')));
      expect(error.code).toBe('CAIRN_DIGEST_MISMATCH');
      expect(error.message).toContain(`blobs/${hex}`);
      expect(readdirSync(root)).toEqual([]);
    });
  });

  describe('listing', () => {
    test('keys with a segment longer than a file name round-trip, list in byte order among the others, and delete', async () => {
      const { root, storage } = sandbox();
      const long = `long/${'x'.repeat(300)}`;
      const keys = ['long/a', long, 'long/y', `long/${'é'.repeat(200)}/b`, 'long/xz'];
      for (const key of keys) await storage.put(key, utf8(`body of ${key.length}`));
      const sorted = [...keys].sort((left, right) => Buffer.compare(Buffer.from(left), Buffer.from(right)));
      expect((await storage.list({ prefix: 'long/' })).keys).toEqual(sorted);
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await storage.list({ prefix: 'long/', limit: 2, ...(cursor === null ? {} : { cursor }) });
        paged.push(...page.keys);
        cursor = page.cursor;
      } while (cursor !== null);
      expect(paged).toEqual(sorted);
      expect(new TextDecoder().decode((await storage.get(long))!)).toBe(`body of ${long.length}`);
      expect((await storage.put(long, utf8('again'), { ifAbsent: true })).written).toBe(false);
      await storage.delete(long);
      expect(await storage.get(long)).toBeNull();
      expect((await storage.list({ prefix: 'long/x' })).keys).toEqual(['long/xz']);
      // Both long keys live in the long-keys folder; only the short ones are files under long/.
      expect(readdirSync(join(root, 'long')).sort()).toEqual(['a', 'xz', 'y']);
    });

    test('files an operator dropped into the root are listed; names no key can have are skipped', async () => {
      const { root, storage } = sandbox();
      mkdirSync(join(root, 'inbox'));
      writeFileSync(join(root, 'inbox', 'spec.yaml'), 'version: 1');
      writeFileSync(join(root, 'inbox', 'back\\slash'), 'x');
      writeFileSync(join(root, 'inbox', 'new\nline'), 'x');
      writeFileSync(Buffer.from(`${join(root, 'inbox')}/not-utf8-\xff`, 'latin1'), 'x');
      expect((await storage.list({ prefix: 'inbox/' })).keys).toEqual(['inbox/spec.yaml']);
    });
  });
});
