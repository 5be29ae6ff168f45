import { tarBlockSize, type TarEntry } from './tar-entry.ts';

const encoder = new TextEncoder();
// The largest size an 11-digit octal field holds (8 GiB - 1); a snapshot file beyond it is refused.
const maximumFileBytes = 0o77777777777;

/**
 * A deterministic POSIX tar of `entries` (already sorted by the caller): mode 0644 or 0755,
 * uid/gid 0 without names, mtime 0, ustar headers with a pax `path`/`linkpath` record only when a
 * name does not fit. The same entries always give the same bytes, so a snapshot's digest names
 * its content. No entries give zero bytes: the empty workspace is `sha256("")`.
 */
export function writeTar(entries: readonly TarEntry[]): Uint8Array {
  if (entries.length === 0) return new Uint8Array(0);
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const size = entry.kind === 'file' ? entry.content.byteLength : 0;
    blocks.push(tarEntryHeader(entry.kind === 'file' ? { ...entry, size } : entry));
    if (entry.kind === 'file') blocks.push(entry.content, tarPadding(size));
  }
  blocks.push(tarEnd());
  return concat(blocks);
}

/** What a member's header needs: a file's size rather than its content (which may be read later, in chunks). */
export type TarEntryHeading =
  | { readonly kind: 'file'; readonly path: string; readonly executable: boolean; readonly size: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

/**
 * The blocks before a member's content: a pax header and its records when a name does not fit
 * ustar, then the ustar header. A file's content follows, then `tarPadding(size)`. Shared by
 * `writeTar` and the streamed snapshot, so both write the same bytes.
 */
export function tarEntryHeader(entry: TarEntryHeading): Uint8Array {
  const blocks: Uint8Array[] = [];
  const path = encoder.encode(entry.path);
  const target = entry.kind === 'symlink' ? encoder.encode(entry.target) : new Uint8Array(0);
  const split = splitPath(path);
  const pax: string[] = [];
  if (!split) pax.push(paxRecord('path', entry.path));
  if (target.byteLength > 100) pax.push(paxRecord('linkpath', entry.kind === 'symlink' ? entry.target : ''));
  if (pax.length > 0) {
    const body = encoder.encode(pax.join(''));
    blocks.push(
      header({ name: encoder.encode('PaxHeader'), prefix: new Uint8Array(0), type: 'x', mode: 0o644, size: body.byteLength, link: new Uint8Array(0) }),
    );
    blocks.push(body, tarPadding(body.byteLength));
  }
  const name = split ?? { name: path.subarray(0, 100), prefix: new Uint8Array(0) };
  const link = target.byteLength > 100 ? new Uint8Array(0) : target;
  if (entry.kind === 'file') {
    if (entry.size > maximumFileBytes) throw new RangeError(`${entry.path} is larger than a snapshot file may be (8 GiB)`);
    blocks.push(header({ ...name, type: '0', mode: entry.executable ? 0o755 : 0o644, size: entry.size, link }));
  } else {
    blocks.push(header({ ...name, type: '2', mode: 0o777, size: 0, link }));
  }
  return blocks.length === 1 ? blocks[0]! : concat(blocks);
}

/** The zero bytes that fill a member's content of `size` bytes up to a whole block. */
export function tarPadding(size: number): Uint8Array {
  const remainder = size % tarBlockSize;
  return new Uint8Array(remainder === 0 ? 0 : tarBlockSize - remainder);
}

/** The two zero blocks that end an archive of at least one member. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(tarBlockSize * 2);
}

/** Splits a path into ustar prefix and name at a `/`, or null when it cannot fit. */
function splitPath(path: Uint8Array): { name: Uint8Array; prefix: Uint8Array } | null {
  if (path.byteLength <= 100) return { name: path, prefix: new Uint8Array(0) };
  for (let slash = path.indexOf(0x2f, path.byteLength - 101); slash !== -1 && slash <= 155; slash = path.indexOf(0x2f, slash + 1)) {
    if (slash > 0 && path.byteLength - slash - 1 <= 100 && path.byteLength - slash - 1 > 0)
      return { prefix: path.subarray(0, slash), name: path.subarray(slash + 1) };
  }
  return null;
}

/** A pax record: its length in decimal counts the length digits themselves. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = encoder.encode(body).byteLength;
  let length = bodyBytes + 1;
  while (String(length).length + bodyBytes !== length) length++;
  return `${length}${body}`;
}

interface HeaderFields {
  readonly name: Uint8Array;
  readonly prefix: Uint8Array;
  readonly type: string;
  readonly mode: number;
  readonly size: number;
  readonly link: Uint8Array;
}

function header(fields: HeaderFields): Uint8Array {
  const block = new Uint8Array(tarBlockSize);
  block.set(fields.name, 0);
  block.set(octal(fields.mode, 8), 100);
  block.set(octal(0, 8), 108);
  block.set(octal(0, 8), 116);
  block.set(octal(fields.size, 12), 124);
  block.set(octal(0, 12), 136);
  block[156] = fields.type.charCodeAt(0);
  block.set(fields.link, 157);
  block.set(encoder.encode('ustar\u000000'), 257);
  block.set(octal(0, 8), 329);
  block.set(octal(0, 8), 337);
  block.set(fields.prefix, 345);
  // The checksum is computed with its own field read as spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.set(encoder.encode(`${sum.toString(8).padStart(6, '0')}\u0000 `), 148);
  return block;
}

/** A NUL-terminated, zero-padded octal field of `width` bytes. */
function octal(value: number, width: number): Uint8Array {
  return encoder.encode(`${value.toString(8).padStart(width - 1, '0')}\u0000`);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return bytes;
}
