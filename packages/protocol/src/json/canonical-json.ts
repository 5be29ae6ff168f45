import { CairnError } from '../errors/cairn-error.ts';
import { formatPathSegment } from './json-path.ts';

const maximumDepth = 512;
const encoder = new TextEncoder();

/**
 * Writes `value` as canonical JSON (RFC 8785, the JSON Canonicalization Scheme): object members
 * sorted by the UTF-16 code units of their names, no whitespace, numbers as ECMAScript writes
 * them, strings with the minimal JSON escapes. Equal data always gives equal bytes, which is what
 * digests and signatures need.
 *
 * Object members whose value is `undefined` are left out (as JSON.stringify does), so optional
 * fields may be spread in. Throws CAIRN_JSON_NOT_CANONICALIZABLE, naming the JSON path, for
 * non-finite numbers, lone surrogates, cycles, nesting deeper than 512, and non-JSON values
 * (bigint, functions, symbols, class instances such as Date or Map, `undefined` in an array).
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, '$', parts, []);
  return parts.join('');
}

/** canonicalJson as UTF-8 bytes. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value));
}

function write(value: unknown, path: string, parts: string[], ancestors: object[]): void {
  switch (typeof value) {
    case 'string':
      parts.push(quote(value, path));
      return;
    case 'number':
      if (!Number.isFinite(value)) refuse(path, `${value} is not a finite number`);
      parts.push(JSON.stringify(value));
      return;
    case 'boolean':
      parts.push(value ? 'true' : 'false');
      return;
    case 'object':
      if (value === null) {
        parts.push('null');
        return;
      }
      if (ancestors.includes(value)) refuse(path, 'the value contains itself (a cycle)');
      if (ancestors.length >= maximumDepth) refuse(path, `nesting is deeper than ${maximumDepth}`);
      ancestors.push(value);
      if (Array.isArray(value)) writeArray(value, path, parts, ancestors);
      else writeObject(value, path, parts, ancestors);
      ancestors.pop();
      return;
    default:
      refuse(path, `a ${typeof value} is not JSON`);
  }
}

function writeArray(array: readonly unknown[], path: string, parts: string[], ancestors: object[]): void {
  parts.push('[');
  for (let index = 0; index < array.length; index++) {
    if (index > 0) parts.push(',');
    const element = array[index];
    if (element === undefined) refuse(`${path}[${index}]`, 'undefined is not JSON');
    write(element, `${path}[${index}]`, parts, ancestors);
  }
  parts.push(']');
}

function writeObject(object: object, path: string, parts: string[], ancestors: object[]): void {
  const prototype = Object.getPrototypeOf(object);
  if (prototype !== Object.prototype && prototype !== null) {
    refuse(path, `a ${object.constructor?.name ?? 'class instance'} is not a plain JSON object`);
  }
  const record = object as Record<string, unknown>;
  // Default sort compares UTF-16 code units, exactly the order RFC 8785 asks for.
  const names = Object.keys(record).sort();
  parts.push('{');
  let first = true;
  for (const name of names) {
    const member = record[name];
    if (member === undefined) continue;
    if (!first) parts.push(',');
    first = false;
    const memberPath = `${path}${formatPathSegment(name)}`;
    parts.push(quote(name, memberPath), ':');
    write(member, memberPath, parts, ancestors);
  }
  parts.push('}');
}

function quote(text: string, path: string): string {
  if (!text.isWellFormed()) refuse(path, 'the string holds a lone UTF-16 surrogate');
  return JSON.stringify(text);
}

function refuse(path: string, reason: string): never {
  throw new CairnError('CAIRN_JSON_NOT_CANONICALIZABLE', `Cannot write canonical JSON at ${path}: ${reason}.`, { path });
}
