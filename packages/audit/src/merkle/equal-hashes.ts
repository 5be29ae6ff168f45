import { timingSafeEqual } from 'node:crypto';

/** Whether two hashes are equal (constant time for equal lengths). */
export function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}
