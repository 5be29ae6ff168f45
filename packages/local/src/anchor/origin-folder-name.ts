import { createHash } from 'node:crypto';

// Well under the 255-byte file name limit, leaving room to recognise the name in a listing.
const maximumReadableBytes = 200;

/**
 * The folder name of a log's origin (`cairn:engine` → `cairn%3Aengine`): percent-encoded, with
 * dots encoded too so that no origin names `.` or `..`. An origin too long to be a file name is
 * named by its SHA-256 after a `+`, which percent-encoding never leaves bare, so the two forms
 * cannot collide.
 */
export function originFolderName(origin: string): string {
  // A lone surrogate cannot be percent-encoded: such an origin takes the hashed form.
  const encoded = origin.isWellFormed() ? encodeURIComponent(origin).replaceAll('.', '%2E') : undefined;
  if (encoded !== undefined && Buffer.byteLength(encoded) <= maximumReadableBytes) return encoded;
  return `+sha256-${createHash('sha256').update(origin, 'utf8').digest('hex')}`;
}
