import { createHash } from 'node:crypto';

// S3 keys may be 1024 bytes; the origin part stays well under, leaving room for prefix and size.
const maximumReadableBytes = 200;

/**
 * The key part naming a log's origin (`cairn:engine` → `cairn%3Aengine`): percent-encoded, with
 * dots encoded too, as the local anchor names its folders, so one origin has the same name in
 * both. An origin too long (or not well-formed Unicode) is named by its SHA-256 after a `+`, which
 * percent-encoding never leaves bare, so the two forms cannot collide.
 */
export function originKeySegment(origin: string): string {
  const encoded = origin.isWellFormed() ? encodeURIComponent(origin).replaceAll('.', '%2E') : undefined;
  if (encoded !== undefined && Buffer.byteLength(encoded) <= maximumReadableBytes) return encoded;
  return `+sha256-${createHash('sha256').update(origin, 'utf8').digest('hex')}`;
}

/**
 * The object key of one tree head's checkpoint, under the prefix: `<prefix><origin>/<tree size,
 * 20 digits>.dsse`. One key per (origin, tree size), so every version ever written for that tree
 * head, the anchored one and any forgery, is listed by one ListObjectVersions of that key. The
 * size is zero-padded so keys list in tree order.
 */
export function anchorObjectKey(prefix: string, origin: string, treeSize: number): string {
  return `${prefix}${originKeySegment(origin)}/${String(treeSize).padStart(20, '0')}.dsse`;
}
