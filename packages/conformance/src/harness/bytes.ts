import { fail } from './fail.ts';

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Asserts byte-exact equality with a message that names the first difference; comparing large
 * bodies with `toEqual` would print megabytes, and a Buffer is not `toEqual` a Uint8Array.
 */
export function expectBytes(actual: unknown, expected: Uint8Array, what: string): void {
  if (!(actual instanceof Uint8Array)) fail(`${what}: expected a Uint8Array, got ${actual === null ? 'null' : typeof actual}`);
  if (actual.byteLength !== expected.byteLength) {
    fail(`${what}: expected ${expected.byteLength} bytes, got ${actual.byteLength}`);
  }
  const index = actual.findIndex((value, position) => value !== expected[position]);
  if (index !== -1) fail(`${what}: bytes differ first at offset ${index} (${actual[index]} instead of ${expected[index]})`);
}

/** Byte-wise comparison, the order storage keys are listed in (UTF-8 bytes, not UTF-16 units). */
export function compareUtf8(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}
