// Small content-addressed objects put with `deferFlush` go to packs (ADR 0025), on a real
// directory: what every reader of the storage sees of them (get, head, list, getStream, delete)
// is what it sees of a file object, and what a machine crash can leave of a pack (a record cut
// short, damaged bytes) is no object.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LocalStorageProvider } from './local-storage-provider.ts';
import { packedObjectMaxBytes, packsFolder } from './object-packs.ts';
import { rejection, temporaryFolders } from '../testing/local.test-support.ts';

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const manifest = (index: number) => {
  const bytes = new TextEncoder().encode(JSON.stringify({ manifest: index, padding: 'x'.repeat(index % 300) }));
  return { key: `manifests/${sha256Hex(bytes)}.json`, bytes };
};
const deferred = { ifAbsent: true, deferFlush: true } as const;

/** Every pack file under the root, by path. */
function packFiles(root: string): string[] {
  const folder = join(root, packsFolder);
  if (!existsSync(folder)) return [];
  return readdirSync(folder).flatMap((shard) =>
    readdirSync(join(folder, shard)).flatMap((name) => (name.endsWith('.pack') ? [join(folder, shard, name)] : [])),
  );
}

/** The pack file holding `key` (each object is packed in the shard of its digest's first two hex digits). */
function packOf(root: string, key: string): string {
  const shard = /[0-9a-f]{64}/.exec(key)![0].slice(0, 2);
  return packFiles(root).find((path) => path.includes(`${packsFolder}/${shard}/`))!;
}

async function listAll(storage: LocalStorageProvider, prefix: string, limit: number): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list({ prefix, limit, ...(cursor === undefined ? {} : { cursor }) });
    keys.push(...page.keys);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return keys;
}

describe('LocalStorageProvider packs small deferred objects', () => {
  const folder = temporaryFolders('cairn-local-packs-');

  test('a thousand deferred manifests make no file each: at most 256 packs, listed in order beside file objects, headed, and read by a second provider', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    const objects = Array.from({ length: 1000 }, (_, index) => manifest(index));
    const results = await Promise.all(objects.map(({ key, bytes }) => storage.put(key, bytes, deferred)));
    expect(results.every((result) => result.written)).toBe(true);
    expect(existsSync(join(root, 'manifests'))).toBe(false);
    expect(packFiles(root).length).toBeLessThanOrEqual(256);
    // File objects beside them, one of them a manifest key too.
    const plain = manifest(5000);
    await storage.put(plain.key, plain.bytes);
    await storage.put('blobs/not-a-digest-so-a-plain-key', new TextEncoder().encode('plain'));
    await storage.put('results/r1.json', new TextEncoder().encode('{}'));

    const reader = new LocalStorageProvider({ root });
    const expected = [...objects.map(({ key }) => key), plain.key, 'blobs/not-a-digest-so-a-plain-key', 'results/r1.json'].sort((left, right) =>
      Buffer.compare(Buffer.from(left), Buffer.from(right)),
    );
    expect(await listAll(reader, '', 1000)).toEqual(expected);
    expect(await listAll(reader, 'manifests/', 37)).toEqual(expected.filter((key) => key.startsWith('manifests/')));
    expect(await listAll(reader, 'results/', 10)).toEqual(['results/r1.json']);
    for (const { key, bytes } of objects.slice(0, 100)) {
      expect(await reader.get(key)).toEqual(bytes);
      expect(await reader.head(key)).toEqual({ key, size: bytes.length });
    }
    const streamed: Uint8Array[] = [];
    for await (const chunk of (await reader.getStream(objects[7]!.key))!) streamed.push(chunk);
    expect(Buffer.concat(streamed)).toEqual(Buffer.from(objects[7]!.bytes));
    expect(await reader.get(manifest(4321).key)).toBeNull();
    expect(await reader.head(manifest(4321).key)).toBeNull();
  });

  test("a packed put keeps the bytes it was called with: the caller's buffer changed before the put settles changes nothing stored", async () => {
    const storage = new LocalStorageProvider({ root: folder() });
    // The first put of a shard waits for its folder and pack file: the buffers change meanwhile.
    const objects = Array.from({ length: 20 }, (_, index) => manifest(index));
    const copies = objects.map(({ bytes }) => Uint8Array.from(bytes));
    const puts = objects.map(({ key, bytes }) => storage.put(key, bytes, deferred));
    for (const { bytes } of objects) bytes.fill(0x20);
    expect((await Promise.all(puts)).every((result) => result.written)).toBe(true);
    const reader = new LocalStorageProvider({ root: storage.root });
    for (const [index, { key }] of objects.entries()) expect(await reader.get(key)).toEqual(copies[index]);
  });

  test('an if-absent put of a packed key reports written once and appends nothing after; a put too large for a pack keeps a file of its own', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    const { key, bytes } = manifest(1);
    const results = await Promise.all(Array.from({ length: 10 }, () => storage.put(key, bytes, deferred)));
    expect(results.filter((result) => result.written)).toHaveLength(1);
    const size = statSync(packOf(root, key)).size;
    expect(await storage.put(key, bytes, deferred)).toEqual({ written: false });
    expect(await storage.put(key, bytes, { deferFlush: true })).toEqual({ written: true });
    expect(statSync(packOf(root, key)).size).toBe(size);

    const large = new Uint8Array(packedObjectMaxBytes + 1).fill(7);
    const largeKey = `blobs/${sha256Hex(large)}`;
    await storage.put(largeKey, large, deferred);
    expect(readFileSync(join(root, largeKey))).toEqual(Buffer.from(large));
  });

  test('a packed object deleted is gone for every reader and from listings; a later put brings it back', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    const [kept, removed] = [manifest(1), manifest(2)];
    await storage.put(kept.key, kept.bytes, deferred);
    await storage.put(removed.key, removed.bytes, deferred);
    const reader = new LocalStorageProvider({ root });
    expect(await reader.get(removed.key)).toEqual(removed.bytes);

    await storage.delete(removed.key);
    for (const provider of [storage, reader, new LocalStorageProvider({ root })]) {
      expect(await provider.get(removed.key)).toBeNull();
      expect(await provider.head(removed.key)).toBeNull();
      expect(await listAll(provider, '', 100)).toEqual([kept.key]);
    }
    // Deleting what is not there is no error, as for files.
    await reader.delete(removed.key);

    // Put again by another provider (one that had read it before the delete): back for all.
    expect(await reader.put(removed.key, removed.bytes, deferred)).toEqual({ written: true });
    for (const provider of [storage, reader, new LocalStorageProvider({ root })]) expect(await provider.get(removed.key)).toEqual(removed.bytes);
  });

  test('what a machine crash can leave of a pack is no object: a record cut short or damaged is not read, and the next if-absent put stores it again', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    // Three objects in one shard, so that one pack file holds them in order.
    const sameShard: { key: string; bytes: Uint8Array }[] = [];
    for (let index = 0; sameShard.length < 3; index++) {
      const candidate = manifest(index);
      if (sameShard.length === 0 || candidate.key.slice(10, 12) === sameShard[0]!.key.slice(10, 12)) sameShard.push(candidate);
    }
    for (const { key, bytes } of sameShard) await storage.put(key, bytes, deferred);
    const pack = packOf(root, sameShard[0]!.key);
    const [first, second, last] = sameShard as [(typeof sameShard)[0], (typeof sameShard)[0], (typeof sameShard)[0]];

    // The middle record's body damaged in place (its framing intact): that object only is gone.
    const packed = readFileSync(pack);
    const at = packed.indexOf(Buffer.from(second.bytes));
    packed[at] = packed[at]! ^ 0x01;
    writeFileSync(pack, packed);
    // The last record cut short, as a write-back cut by a power loss leaves it.
    truncateSync(pack, packed.length - 3);

    const reader = new LocalStorageProvider({ root });
    expect(await reader.get(first.key)).toEqual(first.bytes);
    expect(await reader.get(second.key)).toBeNull();
    expect(await reader.get(last.key)).toBeNull();
    expect(await listAll(reader, 'manifests/', 10)).toEqual([first.key]);
    expect(await reader.put(second.key, second.bytes, deferred)).toEqual({ written: true });
    expect(await reader.put(last.key, last.bytes, deferred)).toEqual({ written: true });
    const after = new LocalStorageProvider({ root });
    for (const { key, bytes } of sameShard) expect(await after.get(key)).toEqual(bytes);
  });

  test('a key packed twice (two writers at once) is read from whichever copy holds: a damaged copy is passed over, and two damaged copies are no object', async () => {
    const { key, bytes } = manifest(7);
    /** A root whose shard holds two copies of the object, in two pack files (two instances, neither knowing of the other's put). */
    const twoCopies = async () => {
      const root = folder();
      for (const writer of [new LocalStorageProvider({ root }), new LocalStorageProvider({ root })]) {
        expect(await writer.put(key, bytes, deferred)).toEqual({ written: true });
      }
      const shard = join(root, packsFolder, key.slice(10, 12));
      return { root, packs: readdirSync(shard).map((name) => join(shard, name)) };
    };
    /** A provider whose look for an absent key of the same shard read the copies without checking them (a listing checks them). */
    const lookedForAnother = async (root: string) => {
      const provider = new LocalStorageProvider({ root });
      expect(await provider.get(`manifests/${key.slice(10, 12)}${'0'.repeat(62)}.json`)).toBeNull();
      return provider;
    };
    const damage = (pack: string) => {
      const packed = readFileSync(pack);
      const at = packed.indexOf(Buffer.from(bytes));
      packed[at + 5] = packed[at + 5]! ^ 0x20;
      writeFileSync(pack, packed);
    };

    for (const damaged of [0, 1]) {
      const { root, packs } = await twoCopies();
      expect(packs).toHaveLength(2);
      damage(packs[damaged]!);
      const reader = new LocalStorageProvider({ root });
      expect(await reader.get(key)).toEqual(bytes);
      expect(await reader.head(key)).toMatchObject({ size: bytes.length });
      expect(await listAll(new LocalStorageProvider({ root }), 'manifests/', 10)).toEqual([key]);
      expect(await listAll(await lookedForAnother(root), 'manifests/', 10)).toEqual([key]);
      // An instance that has read the shard knows the object is there.
      expect(await reader.put(key, bytes, deferred)).toEqual({ written: false });
    }

    const { root, packs } = await twoCopies();
    packs.forEach(damage);
    expect(await new LocalStorageProvider({ root }).get(key)).toBeNull();
    expect(await new LocalStorageProvider({ root }).head(key)).toBeNull();
    expect(await listAll(new LocalStorageProvider({ root }), 'manifests/', 10)).toEqual([]);
    expect(await listAll(await lookedForAnother(root), 'manifests/', 10)).toEqual([]);
    const again = new LocalStorageProvider({ root });
    expect(await again.get(key)).toBeNull();
    expect(await again.put(key, bytes, deferred)).toEqual({ written: true });
    expect(await new LocalStorageProvider({ root }).get(key)).toEqual(bytes);
  });

  test('a link planted as the packs folder or a shard folder is refused, never followed', async () => {
    const root = folder();
    const elsewhere = folder();
    const { key, bytes } = manifest(1);
    symlinkSync(elsewhere, join(root, packsFolder));
    const storage = new LocalStorageProvider({ root });
    const refused = await rejection(storage.put(key, bytes, deferred));
    expect(refused.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
    expect(refused.message).toContain('symbolic link');
    expect(readdirSync(elsewhere)).toEqual([]);

    const other = folder();
    const writer = new LocalStorageProvider({ root: other });
    await writer.put(manifest(2).key, manifest(2).bytes, deferred); // the packs folder exists
    symlinkSync(elsewhere, join(other, packsFolder, key.slice(10, 12)));
    const shardRefused = await rejection(new LocalStorageProvider({ root: other }).put(key, bytes, deferred));
    expect(shardRefused.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
    expect(readdirSync(elsewhere)).toEqual([]);

    // A link planted as a shard's folder of deletion markers: neither a put nor a read follows it.
    const third = folder();
    const packed = manifest(3);
    const writer3 = new LocalStorageProvider({ root: third });
    await writer3.put(packed.key, packed.bytes, deferred);
    symlinkSync(elsewhere, join(third, packsFolder, packed.key.slice(10, 12), 'deleted'));
    expect((await rejection(writer3.put(packed.key, packed.bytes, deferred))).message).toContain('symbolic link');
    expect((await rejection(new LocalStorageProvider({ root: third }).get(packed.key))).message).toContain('symbolic link');
  });
});
