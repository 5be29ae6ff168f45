import { CairnError } from '../errors/cairn-error.ts';
import { formatPathSegment } from './json-path.ts';

const maximumDepth = 512;

/**
 * Writes `value` as canonical JSON (RFC 8785, the JSON Canonicalization Scheme): object members
 * sorted by the UTF-16 code units of their names, no whitespace, numbers as ECMAScript writes
 * them, strings with the minimal JSON escapes. Equal data always gives equal text, which is what
 * digests and signatures need.
 *
 * Object members whose value is `undefined` are left out (as JSON.stringify does), so optional
 * fields may be spread in. Throws CAIRN_JSON_NOT_CANONICALIZABLE, naming the JSON path, for
 * non-finite numbers, lone surrogates, cycles, nesting deeper than 512, and non-JSON values
 * (bigint, functions, symbols, class instances such as Date or Map, `undefined` in an array).
 */
export function canonicalJson(value: unknown): string {
  // Fast paths: JSON.stringify (native) writes exactly the canonical form when every object's
  // keys come in code-unit order and every value is plain JSON, since it emits members in
  // Object.keys order and escapes strings and writes numbers as RFC 8785 does. When only the
  // order is off, a sorted copy gets there too — unless integer-like keys, which objects always
  // enumerate first in numeric order, make insertion order meaningless.
  visited = 0;
  const shape = stringifyShape(value, 0);
  if (shape === 'ready') return JSON.stringify(value);
  // A sorted copy is fastest; past a size, sorting each object as it is written keeps a large
  // document from existing twice in memory.
  if (shape === 'unsorted') return visited < copyLimit ? JSON.stringify(sortedCopy(value)) : JSON.stringify(value, sortMembers);
  try {
    return write(value, new Set());
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    const where = `$${error.segments.map(formatPathSegment).join('')}`;
    throw new CairnError('CAIRN_JSON_NOT_CANONICALIZABLE', `Cannot write canonical JSON at ${where}: ${error.reason}.`, { path: where });
  }
}

/**
 * Whether `JSON.stringify(value)` is already `canonicalJson(value)`: every object's members in
 * code-unit order, every value plain JSON. A caller holding many values that are almost always
 * so (a verifier's entries, parsed from canonical text) checks the part it cannot vouch for with
 * this and writes the whole with one JSON.stringify, instead of walking it twice.
 */
export function stringifiesCanonically(value: unknown): boolean {
  visited = 0;
  return stringifyShape(value, 0) === 'ready';
}

/** canonicalJson as UTF-8 bytes. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  // Buffer.from writes a short text (under 4 KiB) into a slice of Node's shared 8 KiB pool,
  // about three times faster than TextEncoder's fresh allocation (the engine encodes twice a
  // dispatched item). The view keeps the type a plain Uint8Array; one kept for long keeps its
  // slab of the pool alive, at most 8 KiB.
  const bytes = Buffer.from(canonicalJson(value), 'utf8');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// This runs for every audit entry, so the happy path allocates nothing but the text: the path of
// a refused value is collected while the refusal unwinds, not built at every step.
class Refusal extends Error {
  readonly segments: (string | number)[] = [];
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

type StringifyShape = 'ready' | 'unsorted' | 'careful';

/**
 * Whether JSON.stringify(value) is canonical (`ready`), would be once keys are sorted
 * (`unsorted`), or the careful writer must run (`careful`: non-JSON values, lone surrogates,
 * integer-like keys, nesting past the limit — a cycle exceeds it too — all of which it reports).
 */
function stringifyShape(value: unknown, depth: number): StringifyShape {
  visited++;
  switch (typeof value) {
    case 'string':
      return value.isWellFormed() ? 'ready' : 'careful';
    case 'number':
      return Number.isFinite(value) ? 'ready' : 'careful';
    case 'boolean':
      return 'ready';
    case 'object': {
      if (value === null) return 'ready';
      if (depth >= maximumDepth) return 'careful';
      let shape: StringifyShape = 'ready';
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) {
          const element = stringifyShape(value[index], depth + 1);
          if (element === 'careful') return 'careful';
          if (element === 'unsorted') shape = 'unsorted';
        }
        return shape;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return 'careful';
      const names = Object.keys(value);
      for (let index = 0; index < names.length; index++) {
        const name = names[index]!;
        if (!name.isWellFormed() || integerLike.test(name)) return 'careful';
        if (index > 0 && names[index - 1]! >= name) shape = 'unsorted';
        const member = (value as Record<string, unknown>)[name];
        if (member === undefined) continue;
        const inner = stringifyShape(member, depth + 1);
        if (inner === 'careful') return 'careful';
        if (inner === 'unsorted') shape = 'unsorted';
      }
      return shape;
    }
    default:
      return 'careful';
  }
}

const integerLike = /^(?:0|[1-9][0-9]*)$/;

/** Values `stringifyShape` looked at in the current call (the size of the document). */
let visited = 0;
/** Up to this many values, an unsorted document is copied sorted rather than sorted as written. */
const copyLimit = 10_000;

/** A copy whose objects hold their keys in code-unit order (for small `unsorted` values). */
function sortedCopy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(sortedCopy);
  const record = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const name of Object.keys(record).sort()) setMember(copy, name, sortedCopy(record[name]));
  return copy;
}

/**
 * Sets a member of a plain object. Copies are plain objects, not prototype-less ones: V8 keeps an
 * `Object.create(null)` object in dictionary mode, which JSON.stringify writes about twice as
 * slowly, and this runs for every audit entry. A member named __proto__ is defined rather than
 * assigned, so it stays a member instead of becoming the copy's prototype.
 */
function setMember(copy: Record<string, unknown>, name: string, member: unknown): void {
  if (name === '__proto__') Object.defineProperty(copy, name, { value: member, enumerable: true, writable: true, configurable: true });
  else copy[name] = member;
}

/**
 * A JSON.stringify replacer that hands over each object as a copy with its members in code-unit
 * order (for large `unsorted` values). Each copy is written at once and dropped, so a large
 * document never exists twice in memory.
 */
function sortMembers(this: unknown, _name: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const record = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const name of Object.keys(record).sort()) setMember(copy, name, record[name]);
  return copy;
}

// The careful writer: it runs only when a fast path cannot (integer-like keys, or a value it must
// refuse), so it favours clear refusals over speed.
function write(value: unknown, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) throw new Refusal('the string holds a lone UTF-16 surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Refusal(`${value} is not a finite number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (ancestors.has(value)) throw new Refusal('the value contains itself (a cycle)');
      if (ancestors.size >= maximumDepth) throw new Refusal(`nesting is deeper than ${maximumDepth}`);
      ancestors.add(value);
      const text = Array.isArray(value) ? writeArray(value, ancestors) : writeObject(value, ancestors);
      ancestors.delete(value);
      return text;
    }
    default:
      throw new Refusal(value === undefined ? 'undefined is not JSON' : `a ${typeof value} is not JSON`);
  }
}

function writeArray(array: readonly unknown[], ancestors: Set<object>): string {
  return `[${array.map((element, index) => writeMember(index, element, ancestors)).join(',')}]`;
}

function writeObject(object: object, ancestors: Set<object>): string {
  const prototype = Object.getPrototypeOf(object);
  if (prototype !== Object.prototype && prototype !== null) {
    throw new Refusal(`a ${object.constructor?.name ?? 'class instance'} is not a plain JSON object`);
  }
  const record = object as Record<string, unknown>;
  // Default sort compares UTF-16 code units, exactly the order RFC 8785 asks for.
  const members = Object.keys(record)
    .sort()
    .filter((name) => record[name] !== undefined)
    .map((name) => {
      if (!name.isWellFormed()) throw atSegment(name, new Refusal('the member name holds a lone UTF-16 surrogate'));
      return `${JSON.stringify(name)}:${writeMember(name, record[name], ancestors)}`;
    });
  return `{${members.join(',')}}`;
}

// Writes one member, adding its name or index to the path of a refusal from inside it.
function writeMember(segment: string | number, value: unknown, ancestors: Set<object>): string {
  try {
    return write(value, ancestors);
  } catch (error) {
    throw error instanceof Refusal ? atSegment(segment, error) : error;
  }
}

function atSegment(segment: string | number, refusal: Refusal): Refusal {
  refusal.segments.unshift(segment);
  return refusal;
}
