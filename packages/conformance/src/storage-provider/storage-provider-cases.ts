import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { StorageProviderV1 } from '@cairn/core';
import { compareUtf8, expectBytes, utf8 } from '../harness/bytes.ts';
import type { ConformanceCase } from '../harness/conformance-case.ts';
import { expectCairnError } from '../harness/expect-cairn-error.ts';
import { fail } from '../harness/fail.ts';
import type { StorageProviderOracle } from './storage-provider-oracle.ts';

/** One storage provider case. */
export type StorageProviderCase = ConformanceCase<StorageProviderV1, StorageProviderOracle>;

const keyInvalid = 'CAIRN_STORAGE_KEY_INVALID';
const listInvalid = 'CAIRN_STORAGE_LIST_INVALID';

/** Every key in the store, paging with `limit` until the cursor runs out. */
async function listAll(storage: StorageProviderV1, prefix: string, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 1_000; guard += 1) {
    const page = await storage.list({ prefix, limit, ...(cursor === undefined ? {} : { cursor }) });
    if (page.keys.length > limit) fail(`list({ limit: ${limit} }) returned ${page.keys.length} keys`);
    pages.push([...page.keys]);
    if (page.cursor === null) return pages;
    if (page.cursor === cursor) fail(`list returned the cursor it was given ("${cursor}"): paging would never end`);
    cursor = page.cursor;
  }
  fail('list did not end after 1,000 pages');
}

/** Keys sorted the way the contract lists them: by their UTF-8 bytes. */
function sortedByBytes(keys: readonly string[]): string[] {
  return [...keys].sort(compareUtf8);
}

async function putAll(storage: StorageProviderV1, keys: readonly string[]): Promise<void> {
  for (const key of keys) await storage.put(key, utf8(`body of ${key}`));
}

/** Asserts that `key` is refused with CAIRN_STORAGE_KEY_INVALID by every keyed method. */
async function expectKeyRefused(storage: StorageProviderV1, key: string, why: string): Promise<void> {
  const shown = JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
  await expectCairnError(() => storage.put(key, utf8('x')), keyInvalid, `put(${shown}) (${why})`);
  await expectCairnError(() => storage.get(key), keyInvalid, `get(${shown}) (${why})`);
  await expectCairnError(() => storage.head(key), keyInvalid, `head(${shown}) (${why})`);
  await expectCairnError(() => storage.delete(key), keyInvalid, `delete(${shown}) (${why})`);
}

function allByteValues(): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, index) => index);
}

/** The putStream capability, as cases that need it declare it. */
const putStreamCapability = { name: 'putStream', declared: (instance: StorageProviderV1) => instance.capabilities.putStream === true };

/** `instance.putStream`, or a failure naming the broken declaration. */
function putStreamOf(instance: StorageProviderV1): NonNullable<StorageProviderV1['putStream']> {
  if (instance.putStream === undefined) fail('capabilities.putStream is true but putStream is missing');
  return instance.putStream.bind(instance);
}

/**
 * `body` in chunks of `size` bytes, handed out through ONE buffer that is overwritten for each
 * chunk (as a producer may once the next chunk is asked for), counting the chunks taken and
 * throwing `failure` instead of the last one when given.
 */
function reusedChunks(body: Uint8Array, size: number, taken: { chunks: number }, failure?: Error): AsyncIterable<Uint8Array> {
  return (async function* () {
    const buffer = new Uint8Array(size);
    for (let offset = 0; offset < body.byteLength; offset += size) {
      const piece = body.subarray(offset, offset + size);
      if (failure !== undefined && offset + size >= body.byteLength) throw failure;
      buffer.set(piece);
      taken.chunks += 1;
      yield buffer.subarray(0, piece.byteLength);
    }
  })();
}

/** A 3 MiB body (and a few bytes) of a pattern that is not periodic in any power of two. */
function patternedBody(seed: number): Uint8Array {
  return Uint8Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, index) => (index * 31 + (index >> 11) + seed) & 0xff);
}

/**
 * The StorageProviderV1 cases, in the order `describeStorageProvider` registers them. Exported as
 * data so that a meta-test can run one against a broken implementation and see it fail.
 */
export const storageProviderCases: readonly StorageProviderCase[] = [
  {
    id: 'round-trip',
    title: 'put, get, head and delete round-trip a body',
    async run({ instance }) {
      const body = utf8('hello, cairn');
      await instance.put('round/trip.txt', body);
      expectBytes(await instance.get('round/trip.txt'), body, 'get after put');
      const metadata = await instance.head('round/trip.txt');
      expect(metadata, 'head after put').not.toBeNull();
      expect(metadata?.key).toBe('round/trip.txt');
      expect(metadata?.size).toBe(body.byteLength);
      await instance.delete('round/trip.txt');
      expect(await instance.get('round/trip.txt'), 'get after delete').toBeNull();
      expect(await instance.head('round/trip.txt'), 'head after delete').toBeNull();
    },
  },
  {
    id: 'put-reaches-backend',
    title: 'a put body is in the backend byte for byte (oracle)',
    needs: { oracle: true },
    async run({ instance, oracle }) {
      const body = utf8('seen by the oracle');
      await instance.put('oracle/put.txt', body);
      expectBytes(await oracle!.readRaw('oracle/put.txt'), body, 'oracle.readRaw after put');
      await instance.delete('oracle/put.txt');
      expect(await oracle!.readRaw('oracle/put.txt'), 'oracle.readRaw after delete').toBeNull();
    },
  },
  {
    id: 'backend-write-visible',
    title: 'a body written behind its back is read, headed and listed (oracle)',
    needs: { oracle: true },
    async run({ instance, oracle }) {
      const body = utf8('written by the oracle');
      await oracle!.writeRaw('oracle/raw.txt', body);
      expectBytes(await instance.get('oracle/raw.txt'), body, 'get of an oracle-written key');
      expect((await instance.head('oracle/raw.txt'))?.size).toBe(body.byteLength);
      expect((await instance.list({ prefix: 'oracle/' })).keys).toEqual(['oracle/raw.txt']);
    },
  },
  {
    id: 'binary-exact',
    title: 'bodies are stored byte-exact: all 256 byte values, and a 1 MiB body',
    async run({ instance, oracle }) {
      const every = allByteValues();
      await instance.put('binary/every-byte', every);
      expectBytes(await instance.get('binary/every-byte'), every, 'get of all 256 byte values');
      if (oracle) expectBytes(await oracle.readRaw('binary/every-byte'), every, 'oracle.readRaw of all 256 byte values');
      const large = Uint8Array.from({ length: 1024 * 1024 }, (_, index) => (index * 31 + (index >> 8)) & 0xff);
      await instance.put('binary/large', large);
      expectBytes(await instance.get('binary/large'), large, 'get of a 1 MiB body');
      expect((await instance.head('binary/large'))?.size).toBe(large.byteLength);
    },
  },
  {
    id: 'empty-body',
    title: 'an empty body is stored and read back as zero bytes, not null',
    async run({ instance, oracle }) {
      await instance.put('binary/empty', new Uint8Array(0));
      expectBytes(await instance.get('binary/empty'), new Uint8Array(0), 'get of an empty body');
      expect((await instance.head('binary/empty'))?.size).toBe(0);
      if (oracle) expectBytes(await oracle.readRaw('binary/empty'), new Uint8Array(0), 'oracle.readRaw of an empty body');
    },
  },
  {
    id: 'bodies-are-copied',
    title: 'the store keeps its own copy: changing a buffer after put or after get changes nothing stored',
    async run({ instance }) {
      const body = utf8('original');
      await instance.put('copy/key', body);
      body.fill(0);
      const read = await instance.get('copy/key');
      expectBytes(read, utf8('original'), 'get after the caller changed its buffer');
      read!.fill(0);
      expectBytes(await instance.get('copy/key'), utf8('original'), 'get after the caller changed a returned buffer');
    },
  },
  {
    id: 'missing-is-null',
    title: 'get and head of a missing key resolve to null, never throw',
    async run({ instance }) {
      expect(await instance.get('missing/never-written')).toBeNull();
      expect(await instance.head('missing/never-written')).toBeNull();
      await instance.put('missing/sibling', utf8('x'));
      expect(await instance.get('missing/sibling/child'), 'a key below an existing key').toBeNull();
      expect(await instance.get('missing'), 'a prefix of an existing key').toBeNull();
    },
  },
  {
    id: 'head-size',
    title: 'head reports the size in bytes (multi-byte text counts bytes, not characters)',
    async run({ instance }) {
      const bodies: Record<string, Uint8Array> = {
        'size/one': Uint8Array.of(7),
        'size/unicode': utf8('日本😀é'),
        'size/kilo': new Uint8Array(1000).fill(1),
      };
      for (const [key, body] of Object.entries(bodies)) await instance.put(key, body);
      for (const [key, body] of Object.entries(bodies)) {
        const metadata = await instance.head(key);
        expect(metadata?.size, `head("${key}").size`).toBe(body.byteLength);
        expect(metadata?.key, `head("${key}").key`).toBe(key);
      }
    },
  },
  {
    id: 'put-overwrites',
    title: 'a plain put replaces the body (a shorter body leaves no trailing bytes)',
    async run({ instance, oracle }) {
      await instance.put('overwrite/key', utf8('a long first body'));
      const result = await instance.put('overwrite/key', utf8('short'));
      expect(result.written, 'a plain put reports written').toBe(true);
      expectBytes(await instance.get('overwrite/key'), utf8('short'), 'get after overwrite');
      expect((await instance.head('overwrite/key'))?.size).toBe(5);
      if (oracle) expectBytes(await oracle.readRaw('overwrite/key'), utf8('short'), 'oracle.readRaw after overwrite');
    },
  },
  {
    id: 'put-if-absent-existing',
    title: 'put with ifAbsent on an existing key reports not written and keeps the first body',
    async run({ instance, oracle }) {
      const first = await instance.put('if-absent/key', utf8('first'), { ifAbsent: true });
      expect(first.written, 'the first if-absent put').toBe(true);
      const second = await instance.put('if-absent/key', utf8('second'), { ifAbsent: true });
      expect(second.written, 'the second if-absent put').toBe(false);
      expectBytes(await instance.get('if-absent/key'), utf8('first'), 'get after a refused if-absent put');
      if (oracle) expectBytes(await oracle.readRaw('if-absent/key'), utf8('first'), 'oracle.readRaw after a refused if-absent put');
    },
  },
  {
    id: 'put-if-absent-concurrent',
    title: '20 concurrent if-absent puts: exactly one wins and its body is the one stored',
    async run({ instance, oracle }) {
      const contenders = Array.from({ length: 20 }, (_, index) => utf8(`contender ${index} `.repeat(index + 1)));
      const results = await Promise.all(contenders.map((body) => instance.put('race/key', body, { ifAbsent: true })));
      const winners = results.flatMap((result, index) => (result.written ? [index] : []));
      expect(winners, 'indexes of the puts that reported written').toHaveLength(1);
      const winner = contenders[winners[0]!]!;
      expectBytes(await instance.get('race/key'), winner, "get: the winner's body");
      if (oracle) expectBytes(await oracle.readRaw('race/key'), winner, "oracle.readRaw: the winner's body");
    },
  },
  {
    id: 'put-deferred-flush',
    title: 'a put with deferFlush is read back at once, and its if-absent form still lets exactly one of 10 concurrent puts win',
    async run({ instance, oracle }) {
      // ADR 0024: deferFlush may only delay durability against a machine crash; what a reader sees is unchanged.
      const result = await instance.put('deferred/key', utf8('deferred body'), { deferFlush: true });
      expect(result.written, 'a deferred put reports written').toBe(true);
      expectBytes(await instance.get('deferred/key'), utf8('deferred body'), 'get after a deferred put');
      expect((await instance.head('deferred/key'))?.size).toBe(13);
      expect((await instance.list({ prefix: 'deferred/' })).keys).toEqual(['deferred/key']);
      if (oracle) expectBytes(await oracle.readRaw('deferred/key'), utf8('deferred body'), 'oracle.readRaw after a deferred put');
      const contenders = Array.from({ length: 10 }, (_, index) => utf8(`deferred contender ${index}`));
      const results = await Promise.all(contenders.map((body) => instance.put('deferred/race', body, { ifAbsent: true, deferFlush: true })));
      const winners = results.flatMap((put, index) => (put.written ? [index] : []));
      expect(winners, 'indexes of the deferred if-absent puts that reported written').toHaveLength(1);
      expectBytes(await instance.get('deferred/race'), contenders[winners[0]!]!, "get: the deferred winner's body");
    },
  },
  {
    id: 'put-deferred-content-addressed',
    title: 'content-addressed objects put with deferFlush are read, streamed, headed, listed and deleted like any other, and put again after',
    async run({ instance }) {
      // A provider may keep these apart (the local one packs them, ADR 0025): what a reader sees is unchanged.
      const bodies = [utf8('{"manifest":1}'), utf8('{"manifest":2}'), utf8('blob body')];
      const hex = bodies.map((body) => createHash('sha256').update(body).digest('hex'));
      const keys = [`manifests/${hex[0]}.json`, `manifests/${hex[1]}.json`, `blobs/${hex[2]}`];
      for (const [index, key] of keys.entries()) {
        expect((await instance.put(key, bodies[index]!, { ifAbsent: true, deferFlush: true })).written, `the first put of ${key} reports written`).toBe(true);
        expect((await instance.put(key, bodies[index]!, { ifAbsent: true, deferFlush: true })).written, `a second if-absent put of ${key}`).toBe(false);
      }
      for (const [index, key] of keys.entries()) {
        expectBytes(await instance.get(key), bodies[index]!, `get(${key})`);
        expect(await instance.head(key), `head(${key})`).toMatchObject({ key, size: bodies[index]!.length });
      }
      if (instance.capabilities.stream) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of (await instance.getStream!(keys[0]!))!) chunks.push(chunk);
        expectBytes(Uint8Array.from(chunks.flatMap((chunk) => [...chunk])), bodies[0]!, `getStream(${keys[0]})`);
      }
      expect((await instance.list({ prefix: 'manifests/' })).keys).toEqual(sortedByBytes(keys.slice(0, 2)));
      expect((await instance.list({ prefix: 'blobs/' })).keys).toEqual([keys[2]]);
      await instance.delete(keys[0]!);
      expect(await instance.get(keys[0]!), 'get after delete').toBeNull();
      expect(await instance.head(keys[0]!), 'head after delete').toBeNull();
      expect((await instance.list({ prefix: 'manifests/' })).keys).toEqual([keys[1]]);
      expect((await instance.put(keys[0]!, bodies[0]!, { ifAbsent: true, deferFlush: true })).written, 'a put after delete reports written').toBe(true);
      expectBytes(await instance.get(keys[0]!), bodies[0]!, 'get after the put again');
    },
  },
  {
    id: 'delete-idempotent',
    title: 'delete is idempotent: a missing key and a second delete resolve',
    async run({ instance, oracle }) {
      await instance.delete('delete/never-written');
      await instance.put('delete/key', utf8('x'));
      await instance.delete('delete/key');
      await instance.delete('delete/key');
      expect(await instance.get('delete/key')).toBeNull();
      expect((await instance.list({ prefix: 'delete/' })).keys).toEqual([]);
      if (oracle) expect(await oracle.readRaw('delete/key')).toBeNull();
    },
  },
  {
    id: 'list-byte-order',
    title: 'list returns keys in UTF-8 byte order (not UTF-16 or locale order)',
    async run({ instance }) {
      // 'Ａ' (U+FF21) sorts before '😀' in UTF-8 but after it in UTF-16 code units; '-' < '/' < 'B' < 'a'.
      const keys = ['order/a', 'order/B', 'order/a-1', 'order/a/1', 'order/é', 'order/日本', 'order/😀', 'order/Ａ', 'order/Z', 'order/0'];
      await putAll(instance, keys);
      const page = await instance.list({ prefix: 'order/' });
      expect(page.keys).toEqual(sortedByBytes(keys));
      expect(page.cursor).toBeNull();
    },
  },
  {
    id: 'list-limit-one-and-two',
    title: 'list with limit 1 and limit 2 pages through every key exactly once',
    async run({ instance }) {
      const keys = ['limit/a', 'limit/b', 'limit/c'];
      await putAll(instance, keys);
      for (const limit of [1, 2]) {
        const pages = await listAll(instance, 'limit/', limit);
        expect(pages.flat(), `keys paged with limit ${limit}`).toEqual(keys);
        expect(pages.filter((page) => page.length > 0).length, `non-empty pages with limit ${limit}`).toBe(Math.ceil(keys.length / limit));
      }
    },
  },
  {
    id: 'list-pagination',
    title: 'paging through 25 keys: no duplicates, no gaps, sorted, and a cursor replays the same page',
    async run({ instance }) {
      const keys = Array.from({ length: 25 }, (_, index) => `page/key-${String(index).padStart(2, '0')}`);
      for (const key of [...keys].reverse()) await instance.put(key, utf8(key));
      const pages = await listAll(instance, 'page/', 4);
      expect(pages.flat()).toEqual(keys);
      const first = await instance.list({ prefix: 'page/', limit: 4 });
      expect(first.cursor, 'a first page of 4 out of 25 has a cursor').not.toBeNull();
      const second = await instance.list({ prefix: 'page/', limit: 4, cursor: first.cursor! });
      const replay = await instance.list({ prefix: 'page/', limit: 4, cursor: first.cursor! });
      expect(replay.keys, 'the same cursor gives the same page').toEqual(second.keys);
      expect(second.keys).toEqual(keys.slice(4, 8));
    },
  },
  {
    id: 'list-invalid',
    title: 'list refuses a limit outside 1..1000 and a cursor it did not issue with CAIRN_STORAGE_LIST_INVALID',
    async run({ instance }) {
      await putAll(instance, ['invalid/a', 'invalid/b']);
      for (const limit of [0, -1, 1001, 1.5, Number.NaN]) {
        await expectCairnError(() => instance.list({ prefix: 'invalid/', limit }), listInvalid, `list({ limit: ${limit} })`);
      }
      expect((await instance.list({ prefix: 'invalid/', limit: 1000 })).keys, 'limit 1000 is allowed').toEqual(['invalid/a', 'invalid/b']);
      // No cursor scheme issues this: it is not base64 of anything, and not a key (a control character).
      const foreign = '\u0001 not a cursor of this provider ~!';
      await expectCairnError(() => instance.list({ prefix: 'invalid/', cursor: foreign }), listInvalid, 'list with a foreign cursor');
    },
  },
  {
    id: 'list-prefix-edges',
    title: "prefix is a plain string prefix: 'a/' vs 'a', a full key, empty, and one matching nothing",
    async run({ instance }) {
      const keys = ['a/1', 'a/10', 'a/2', 'ab/1', 'b/1'];
      await putAll(instance, keys);
      const list = async (prefix: string) => (await instance.list({ prefix })).keys;
      expect(await list('a/'), "prefix 'a/'").toEqual(['a/1', 'a/10', 'a/2']);
      expect(await list('a'), "prefix 'a'").toEqual(['a/1', 'a/10', 'a/2', 'ab/1']);
      expect(await list('a/1'), "prefix equal to the full key 'a/1'").toEqual(['a/1', 'a/10']);
      expect(await list('a/2'), "prefix equal to the full key 'a/2'").toEqual(['a/2']);
      expect(await list(''), 'empty prefix').toEqual(keys);
      expect((await instance.list()).keys, 'no options').toEqual(keys);
      const none = await instance.list({ prefix: 'c/' });
      expect(none.keys, 'a prefix with no keys').toEqual([]);
      expect(none.cursor, 'a prefix with no keys has no cursor').toBeNull();
    },
  },
  {
    id: 'unicode-keys',
    title: 'keys with é, 日本, emoji and slashes round-trip and list exactly as given (no normalisation)',
    async run({ instance, oracle }) {
      const decomposed = 'unicode/cafe\u0301';
      const keys = ['unicode/café', 'unicode/日本/語/ファイル.txt', 'unicode/😀/🎉', 'unicode/deep/a/b/c/d/e/f', decomposed];
      for (const key of keys) await instance.put(key, utf8(`body of ${key}`));
      for (const key of keys) {
        expectBytes(await instance.get(key), utf8(`body of ${key}`), `get(${JSON.stringify(key)})`);
        if (oracle) expectBytes(await oracle.readRaw(key), utf8(`body of ${key}`), `oracle.readRaw(${JSON.stringify(key)})`);
      }
      expect((await instance.list({ prefix: 'unicode/' })).keys).toEqual(sortedByBytes(keys));
    },
  },
  {
    id: 'refuses-dot-segments',
    title: "refuses '..' and '.' segments with CAIRN_STORAGE_KEY_INVALID",
    async run({ instance }) {
      for (const key of ['..', '../x', 'a/../b', 'a/..', '.', './a', 'a/./b', 'a/.']) {
        await expectKeyRefused(instance, key, 'a dot segment');
      }
    },
  },
  {
    id: 'refuses-absolute-and-empty-segments',
    title: "refuses absolute keys, empty keys and empty segments ('/x', '', 'a//b', 'a/')",
    async run({ instance }) {
      for (const key of ['/x', '/', '', 'a//b', 'a/', '//x']) await expectKeyRefused(instance, key, 'absolute, empty or an empty segment');
    },
  },
  {
    id: 'refuses-backslash',
    title: 'refuses backslashes',
    async run({ instance }) {
      for (const key of ['a\\b', '\\x', 'a\\..\\b']) await expectKeyRefused(instance, key, 'a backslash');
    },
  },
  {
    id: 'refuses-control-characters',
    title: 'refuses control characters (NUL, newline, tab, DEL)',
    async run({ instance }) {
      for (const key of ['a\u0000b', 'a\nb', 'a\tb', 'a\u001fb', 'a\u007fb', 'a\u0085b']) {
        await expectKeyRefused(instance, key, 'a control character');
      }
    },
  },
  {
    id: 'stream-round-trip',
    title: 'getStream yields the bytes get returns, in order and in more than one chunk for a large body; null for a missing key; bad keys refused',
    needs: { capability: { name: 'stream', declared: (instance) => instance.capabilities.stream === true } },
    async run({ instance }) {
      if (instance.getStream === undefined) fail('capabilities.stream is true but getStream is missing');
      // 3 MiB and a few bytes of a pattern that is not periodic in any power of two.
      const body = Uint8Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, index) => (index * 31 + (index >> 11)) & 0xff);
      await instance.put('streams/large', body);
      const stream = await instance.getStream('streams/large');
      if (stream === null) fail('getStream("streams/large") returned null for a stored key');
      const chunks: Uint8Array[] = [];
      for await (const chunk of stream) chunks.push(Uint8Array.from(chunk));
      expect(chunks.length, 'chunks of a 3 MiB body').toBeGreaterThan(1);
      expectBytes(Buffer.concat(chunks), body, 'the concatenated chunks of getStream("streams/large")');
      expect(await instance.getStream('streams/missing'), 'getStream of a missing key').toBeNull();
      await expectCairnError(() => instance.getStream!('streams/../escape'), keyInvalid, 'getStream("streams/../escape")');
    },
  },
  {
    id: 'put-stream-round-trip',
    title: 'putStream stores the chunks of a large body in order (a buffer reused for each chunk), read back by get, getStream and head (oracle)',
    needs: { capability: putStreamCapability },
    async run({ instance, oracle }) {
      const putStream = putStreamOf(instance);
      const body = patternedBody(0);
      const taken = { chunks: 0 };
      expect(await putStream('streams/put', reusedChunks(body, 64 * 1024 + 3, taken)), 'putStream of a new key').toEqual({ written: true });
      expect(taken.chunks, 'chunks taken from the body').toBe(Math.ceil(body.byteLength / (64 * 1024 + 3)));
      expectBytes(await instance.get('streams/put'), body, 'get after putStream');
      expect((await instance.head('streams/put'))?.size, 'head after putStream').toBe(body.byteLength);
      if (oracle) expectBytes(await oracle.readRaw('streams/put'), body, 'oracle.readRaw after putStream');
      // An empty body is an empty object, and a second putStream replaces the first.
      expect(await putStream('streams/put', reusedChunks(new Uint8Array(0), 1024, { chunks: 0 })), 'putStream of an empty body').toEqual({ written: true });
      expectBytes(await instance.get('streams/put'), new Uint8Array(0), 'get after putStream of an empty body');
      expect((await instance.list({ prefix: 'streams/' })).keys).toEqual(['streams/put']);
    },
  },
  {
    id: 'put-stream-if-absent',
    title: 'putStream with ifAbsent on a stored key answers written: false, reads the body to its end and changes nothing',
    needs: { capability: putStreamCapability },
    async run({ instance }) {
      const putStream = putStreamOf(instance);
      const first = patternedBody(1);
      expect(await putStream('streams/once', reusedChunks(first, 256 * 1024, { chunks: 0 }), { ifAbsent: true })).toEqual({ written: true });
      const taken = { chunks: 0 };
      expect(await putStream('streams/once', reusedChunks(patternedBody(2), 256 * 1024, taken), { ifAbsent: true }), 'a second if-absent putStream').toEqual({
        written: false,
      });
      expect(taken.chunks, 'chunks of the second body taken').toBe(Math.ceil(first.byteLength / (256 * 1024)));
      expectBytes(await instance.get('streams/once'), first, 'get after the refused if-absent putStream');
    },
  },
  {
    id: 'put-stream-body-fails',
    title: 'when the body throws, putStream rejects with that error and stores nothing (a stored object stays as it was)',
    needs: { capability: putStreamCapability },
    async run({ instance }) {
      const putStream = putStreamOf(instance);
      const failure = new Error('the producer found its bytes wrong');
      const rejected = await putStream('streams/failed', reusedChunks(patternedBody(3), 256 * 1024, { chunks: 0 }, failure)).then(
        () => fail('putStream resolved although its body threw'),
        (error: unknown) => error,
      );
      expect(rejected, 'what putStream rejected with').toBe(failure);
      expect(await instance.get('streams/failed'), 'get of the key whose body threw').toBeNull();
      expect((await instance.list({ prefix: 'streams/' })).keys, 'keys after the failed putStream').toEqual([]);
      const kept = utf8('kept');
      await instance.put('streams/kept', kept);
      await putStream('streams/kept', reusedChunks(patternedBody(4), 256 * 1024, { chunks: 0 }, failure)).catch(() => undefined);
      expectBytes(await instance.get('streams/kept'), kept, 'get of a stored key after a failed replacing putStream');
    },
  },
  {
    id: 'put-stream-refuses-keys',
    title: 'putStream refuses a bad key with CAIRN_STORAGE_KEY_INVALID before reading its body',
    needs: { capability: putStreamCapability },
    async run({ instance }) {
      const putStream = putStreamOf(instance);
      const taken = { chunks: 0 };
      await expectCairnError(() => putStream('streams/../escape', reusedChunks(utf8('escaped'), 4, taken)), keyInvalid, 'putStream("streams/../escape")');
      expect(taken.chunks, 'chunks taken from the body of a refused key').toBe(0);
      expect((await instance.list()).keys).toEqual([]);
    },
  },
  {
    id: 'key-length-limit',
    title: 'accepts a key of exactly 1024 UTF-8 bytes and refuses 1025 (bytes, not characters)',
    async run({ instance }) {
      // 'é' is two bytes: 512 of them are 1024 bytes but only 512 characters.
      const twoByteKey = 'é'.repeat(512);
      await instance.put(twoByteKey, utf8('longest'));
      expectBytes(await instance.get(twoByteKey), utf8('longest'), 'get of a 1024-byte key');
      await expectKeyRefused(instance, `${twoByteKey}x`, 'over 1024 bytes');
      await expectKeyRefused(instance, `x${'é'.repeat(600)}`, 'over 1024 bytes in under 1024 characters');
      await expectKeyRefused(instance, 'k'.repeat(1025), 'over 1024 bytes');
    },
  },
  {
    id: 'refused-keys-write-nothing',
    title: 'a refused key leaves the store unchanged (oracle)',
    needs: { oracle: true },
    async run({ instance, oracle }) {
      await instance.put('escape/inside', utf8('x'));
      await expectCairnError(() => instance.put('escape/../outside', utf8('escaped')), keyInvalid, 'put("escape/../outside")');
      expect(await oracle!.readRaw('outside'), 'oracle.readRaw("outside")').toBeNull();
      expect((await instance.list()).keys).toEqual(['escape/inside']);
    },
  },
];
