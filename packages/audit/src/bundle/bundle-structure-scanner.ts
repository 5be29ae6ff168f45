import { formatJsonPath } from '@cairn/protocol';
import { freeContainers, type BundleLimits } from './bundle-limits.ts';

/**
 * What one pass over a bundle's bytes found, before anything is parsed: the first limit it
 * exceeds (named, with the JSON path where it was hit), or how many elements `$.entries` holds and
 * where `$.checkpoint` is, so that the entries can be held against the tree size it claims.
 */
export type BundleStructure =
  { readonly ok: true; readonly entryCount: number | undefined; readonly checkpoint: Uint8Array | undefined } | ({ readonly ok: false } & BundleLimitExceeded);

/** The first limit a bundle exceeds: which, the JSON path where it was hit, and a sentence naming both. */
export interface BundleLimitExceeded {
  readonly limit: keyof BundleLimits;
  readonly jsonPath: string;
  readonly detail: string;
}

const [quote, backslash, comma, openCurly, closeCurly, openSquare, closeSquare] = [0x22, 0x5c, 0x2c, 0x7b, 0x7d, 0x5b, 0x5d];
const entriesKey = new TextEncoder().encode('entries');
const checkpointKey = new TextEncoder().encode('checkpoint');
const decoder = new TextDecoder();

/**
 * Scans JSON bytes for the limits of `limits` (depth, keys per object, string bytes, objects and
 * arrays per byte) without building anything: memory is a few numbers per nesting level, time one
 * pass (long strings are skipped with `indexOf`). It does not judge the grammar: bytes it cannot
 * place are left to `JSON.parse`, which runs only after the scan passed, on input the limits bound.
 *
 * The bytes may arrive in pieces: `scan(available)` reads up to `available` (a file read into
 * `bytes` so far), so that a file is refused after the first bytes over a limit, not once it is
 * all in memory. `length` is the whole input's, which sets the number of objects and arrays allowed.
 */
export class BundleStructureScanner {
  readonly #bytes: Uint8Array;
  readonly #limits: BundleLimits;
  readonly #length: number;
  readonly #maxContainers: number;
  // Per open container, indexed by depth (1 = the bundle itself): object or array, keys or commas
  // seen, and where its current key's text lies (for paths and for `entries` and `checkpoint`).
  readonly #isObject: Uint8Array;
  readonly #counts: Float64Array;
  readonly #keyStarts: Float64Array;
  readonly #keyEnds: Float64Array;
  #position = 0;
  // Where to go on looking for the closing quote of the string open at #position.
  #stringSearchFrom = -1;
  #depth = 0;
  #expectKey = false;
  #containers = 0;
  #ended = false;
  #problem: BundleLimitExceeded | undefined;
  #entryCount: number | undefined;
  #checkpointStart = -1;
  #checkpoint: Uint8Array | undefined;

  constructor(bytes: Uint8Array, limits: BundleLimits, length = bytes.length) {
    this.#bytes = bytes;
    this.#limits = limits;
    this.#length = length;
    this.#maxContainers = freeContainers + Math.floor(length / limits.minBytesPerContainer);
    const levels = limits.maxDepth + 1;
    this.#isObject = new Uint8Array(levels);
    this.#counts = new Float64Array(levels);
    this.#keyStarts = new Float64Array(levels);
    this.#keyEnds = new Float64Array(levels);
  }

  /** Scans on to `available` bytes; the first limit exceeded, if any (then and later). */
  scan(available: number): BundleLimitExceeded | undefined {
    if (this.#problem !== undefined || this.#ended) return this.#problem;
    const bytes = this.#bytes;
    const limits = this.#limits;
    const isObject = this.#isObject;
    const counts = this.#counts;
    let depth = this.#depth;
    let expectKey = this.#expectKey;
    let index = this.#position;
    const refuse = (limit: keyof BundleLimits, jsonPath: string, reason: string) =>
      (this.#problem = { limit, jsonPath, detail: `the bundle exceeds what a verifier reads: ${reason} (limit ${limit})` });
    for (; index < available; index++) {
      const byte = bytes[index]!;
      // Not a JSON object or array (the zeros of /dev/zero): JSON.parse refuses it at once.
      if (depth === 0 && byte !== openCurly && byte !== openSquare && !isWhitespace(byte)) {
        this.#ended = true;
        break;
      }
      if (byte === quote) {
        // By hand while it is short (most are: ids, names, hashes), past any escaped character;
        // with indexOf (memchr) beyond that (base64 payloads).
        let end = this.#stringSearchFrom >= 0 ? this.#stringSearchFrom : index + 1;
        const byHandUntil = Math.min(available, index + 128);
        while (end < byHandUntil) {
          const inString = bytes[end]!;
          if (inString === quote) break;
          end += inString === backslash ? 2 : 1;
        }
        // Where to go on when the string's end is not read yet: by hand, past the escape it was in.
        let resumeAt = end;
        if (end >= byHandUntil) {
          if (end >= available) end = -1;
          else {
            end = closingQuote(bytes, index, end, available);
            resumeAt = available;
          }
        }
        const isKey = depth > 0 && isObject[depth] === 1 && expectKey;
        if ((end < 0 ? available : end) - index - 1 > limits.maxStringBytes) {
          const at = this.#pathTo(isKey ? depth - 1 : depth);
          return refuse(
            'maxStringBytes',
            at,
            `${isKey ? `a key of the object at ${at}` : `the string at ${at}`} is longer than ${limits.maxStringBytes} bytes`,
          );
        }
        if (end < 0) {
          // The rest of the string has not been read yet: go on from there next time.
          this.#stringSearchFrom = resumeAt;
          break;
        }
        this.#stringSearchFrom = -1;
        if (isKey) {
          if (++counts[depth]! > limits.maxKeysPerObject) {
            const at = this.#pathTo(depth - 1);
            return refuse('maxKeysPerObject', at, `the object at ${at} has more than ${limits.maxKeysPerObject} keys`);
          }
          this.#keyStarts[depth] = index + 1;
          this.#keyEnds[depth] = end;
          expectKey = false;
        }
        index = end;
      } else if (byte === openCurly || byte === openSquare) {
        if (++this.#containers > this.#maxContainers) {
          const at = this.#pathTo(depth);
          return refuse(
            'minBytesPerContainer',
            at,
            `it holds more than ${this.#maxContainers} objects and arrays (reached at ${at}): at most ${freeContainers} and one per ${limits.minBytesPerContainer} bytes of its ${this.#length}`,
          );
        }
        if (depth === limits.maxDepth) {
          const at = this.#pathTo(depth);
          return refuse('maxDepth', at, `it nests deeper than ${limits.maxDepth} levels at ${at}`);
        }
        if (depth === 1 && this.#currentKeyIs(checkpointKey)) this.#checkpointStart = index;
        depth++;
        isObject[depth] = byte === openCurly ? 1 : 0;
        counts[depth] = 0;
        expectKey = byte === openCurly;
      } else if (byte === closeCurly || byte === closeSquare) {
        if (depth === 2 && isObject[2] === 0 && this.#currentKeyIs(entriesKey)) this.#entryCount = isEmptyArray(bytes, index) ? 0 : counts[2]! + 1;
        if (depth === 2 && this.#checkpointStart >= 0 && this.#checkpoint === undefined && this.#currentKeyIs(checkpointKey))
          this.#checkpoint = bytes.subarray(this.#checkpointStart, index + 1);
        depth = Math.max(0, depth - 1);
        expectKey = false;
        // The bundle's object has ended (or never began): what follows is JSON.parse's to refuse.
        if (depth === 0) {
          this.#ended = true;
          break;
        }
      } else if (byte === comma && depth > 0) {
        if (isObject[depth] === 1) expectKey = true;
        else counts[depth]!++;
      }
    }
    this.#position = index;
    this.#depth = depth;
    this.#expectKey = expectKey;
    return undefined;
  }

  /** The whole input, scanned: how many entries `$.entries` holds and the bytes of `$.checkpoint`. */
  result(): BundleStructure {
    if (this.#problem !== undefined) return { ok: false, ...this.#problem };
    return { ok: true, entryCount: this.#entryCount, checkpoint: this.#checkpoint };
  }

  #currentKeyIs(key: Uint8Array): boolean {
    const start = this.#keyStarts[1]!;
    return this.#isObject[1] === 1 && this.#keyEnds[1]! - start === key.length && key.every((byte, index) => this.#bytes[start + index] === byte);
  }

  #pathTo(deepest: number): string {
    const segments: (string | number)[] = [];
    for (let level = 1; level <= deepest; level++) {
      if (this.#isObject[level] === 0) segments.push(this.#counts[level]!);
      else if (this.#counts[level]! > 0) segments.push(keyText(this.#bytes, this.#keyStarts[level]!, this.#keyEnds[level]!));
    }
    return formatJsonPath(segments);
  }
}

/** The index of the quote that closes the string opened at `open`, searched from `from`; -1 when it is not before `available`. */
function closingQuote(bytes: Uint8Array, open: number, from: number, available: number): number {
  const visible = available === bytes.length ? bytes : bytes.subarray(0, available);
  for (;;) {
    const end = visible.indexOf(quote, from);
    if (end < 0) return -1;
    if (countBackslashesBefore(bytes, end, open) % 2 === 0) return end;
    from = end + 1;
  }
}

/** Backslashes right before `at`, after the opening quote at `open`. */
function countBackslashesBefore(bytes: Uint8Array, at: number, open: number): number {
  let count = 0;
  while (at - 1 - count > open && bytes[at - 1 - count] === backslash) count++;
  return count;
}

/** Whether the array closed at `close` holds nothing (JSON whitespace aside). */
function isEmptyArray(bytes: Uint8Array, close: number): boolean {
  let before = close - 1;
  while (isWhitespace(bytes[before]!)) before--;
  return bytes[before] === openSquare;
}

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** A key as a path segment: its text, unescaped when it can be, and cut short when long. */
function keyText(bytes: Uint8Array, start: number, end: number): string {
  const raw = decoder.decode(bytes.subarray(start, Math.min(end, start + 200)));
  let text: string;
  try {
    text = JSON.parse(`"${raw}"`) as string;
  } catch {
    text = raw;
  }
  return end - start > 200 ? `${text}…` : text;
}
