import type { JsonObject, JsonValue } from '@cairn/core';
import { CairnError, formatJsonPath } from '@cairn/protocol';

/**
 * `value` as the JSON it travels as, proven so by a copy made of JSON values only: object members
 * that are `undefined` are left out (as JSON.stringify leaves them out). What JSON would change on
 * the way (a class instance such as a Date or a Uint8Array, a non-finite number, `undefined` in an
 * array, a bigint, a function, a `__proto__` member) is refused with CAIRN_PAYLOAD_INVALID naming
 * `what` and the JSON path, rather than arriving as something else.
 */
export function jsonValueOf(value: unknown, what: string): JsonValue {
  return copy(value, [], what, new Set());
}

function copy(value: unknown, path: (string | number)[], what: string, ancestors: Set<object>): JsonValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value;
      throw refusal(what, path, `${value} is not a finite number`);
    case 'object': {
      if (value === null) return null;
      if (ancestors.has(value)) throw refusal(what, path, 'the value contains itself');
      ancestors.add(value);
      const json = Array.isArray(value) ? copyArray(value, path, what, ancestors) : copyObject(value, path, what, ancestors);
      ancestors.delete(value);
      return json;
    }
    default:
      throw refusal(what, path, `${value === undefined ? 'undefined' : `a ${typeof value}`} is not JSON`);
  }
}

function copyArray(array: readonly unknown[], path: (string | number)[], what: string, ancestors: Set<object>): JsonValue[] {
  return array.map((element, index) => copy(element, [...path, index], what, ancestors));
}

function copyObject(object: object, path: (string | number)[], what: string, ancestors: Set<object>): JsonObject {
  const prototype: unknown = Object.getPrototypeOf(object);
  if (prototype !== Object.prototype && prototype !== null)
    throw refusal(what, path, `a ${object.constructor.name || 'class instance'} is not a plain JSON object`);
  const json: JsonObject = {};
  for (const [name, member] of Object.entries(object)) {
    if (member === undefined) continue;
    // Assigned, it would become the copy's prototype rather than a member.
    if (name === '__proto__') throw refusal(what, [...path, name], 'a member named __proto__ is refused');
    json[name] = copy(member, [...path, name], what, ancestors);
  }
  return json;
}

function refusal(what: string, path: readonly (string | number)[], reason: string): CairnError {
  const where = formatJsonPath(path);
  return new CairnError('CAIRN_PAYLOAD_INVALID', `${what} cannot travel as JSON: at ${where}, ${reason}.`, { path: where });
}
