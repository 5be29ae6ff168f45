import { tarBlockSize, type TarMember } from './tar-entry.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

const refusedTypes: Readonly<Record<string, string>> = {
  '1': 'a hard link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  S: 'a sparse file',
  V: 'a volume label',
  M: 'a multi-volume continuation',
};

/**
 * The members of a tar (ustar, pax or GNU long names), in order. Throws an Error saying which
 * member is wrong for anything but files, directories and symlinks (hard links, devices, FIFOs),
 * a bad checksum, or a member running past the end. Zero bytes are the empty snapshot.
 */
export function readTar(bytes: Uint8Array): TarMember[] {
  const members: TarMember[] = [];
  if (bytes.byteLength === 0) return members;
  let offset = 0;
  let pending: { path?: string; linkpath?: string } = {};
  while (offset + tarBlockSize <= bytes.byteLength) {
    const block = bytes.subarray(offset, offset + tarBlockSize);
    if (block.every((byte) => byte === 0)) return members;
    if (!checksumMatches(block)) throw new Error(`the tar header at byte ${offset} has a wrong checksum (not a tar, or corrupted)`);
    const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
    const size = numberField(block.subarray(124, 136));
    const bodyStart = offset + tarBlockSize;
    const bodyEnd = bodyStart + size;
    if (bodyEnd > bytes.byteLength) throw new Error(`the tar member at byte ${offset} runs past the end of the snapshot`);
    const body = bytes.subarray(bodyStart, bodyEnd);
    offset = bodyStart + Math.ceil(size / tarBlockSize) * tarBlockSize;
    const magic = text(block.subarray(257, 263));
    const prefix = magic.startsWith('ustar') ? text(block.subarray(345, 500)) : '';
    const headerName = prefix === '' ? text(block.subarray(0, 100)) : `${prefix}/${text(block.subarray(0, 100))}`;
    const path = pending.path ?? headerName;
    if (type === 'x') {
      pending = { ...pending, ...paxRecords(body) };
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L' || type === 'K') {
      const value = text(body);
      pending = type === 'L' ? { ...pending, path: value } : { ...pending, linkpath: value };
      continue;
    }
    const linkpath = pending.linkpath ?? text(block.subarray(157, 257));
    pending = {};
    const refused = refusedTypes[type];
    if (refused !== undefined) throw new Error(`${JSON.stringify(path)} is ${refused}; a snapshot holds only files, directories and symlinks`);
    if (type === '0' || type === '7') {
      const mode = numberField(block.subarray(100, 108));
      members.push({ kind: 'file', path, executable: (mode & 0o111) !== 0, content: body });
    } else if (type === '2') {
      members.push({ kind: 'symlink', path, target: linkpath });
    } else if (type === '5') {
      members.push({ kind: 'directory', path });
    } else {
      throw new Error(`${JSON.stringify(path)} has tar type ${JSON.stringify(type)}, which a snapshot does not use`);
    }
  }
  throw new Error('the tar ends without its end-of-archive blocks (truncated)');
}

function checksumMatches(block: Uint8Array): boolean {
  const recorded = numberField(block.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let index = 0; index < tarBlockSize; index++) {
    const byte = index >= 148 && index < 156 ? 0x20 : block[index]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return recorded === unsigned || recorded === signed;
}

/** An octal field, or GNU base-256 when its first byte has the high bit set. */
function numberField(field: Uint8Array): number {
  if ((field[0]! & 0x80) !== 0) {
    let value = field[0]! & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new Error('a tar size is too large');
    return value;
  }
  const digits = new TextDecoder()
    .decode(field)
    .replace(/[\0 ]+$/, '')
    .replace(/^[\0 ]+/, '');
  if (!/^[0-7]*$/.test(digits)) throw new Error(`a tar number field is not octal: ${JSON.stringify(digits)}`);
  return digits === '' ? 0 : parseInt(digits, 8);
}

/** A NUL-terminated UTF-8 field. */
function text(field: Uint8Array): string {
  const end = field.indexOf(0);
  try {
    return decoder.decode(end === -1 ? field : field.subarray(0, end));
  } catch {
    throw new Error('a tar member name is not UTF-8');
  }
}

function paxRecords(body: Uint8Array): { path?: string; linkpath?: string } {
  const records: { path?: string; linkpath?: string } = {};
  let offset = 0;
  while (offset < body.byteLength) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number(new TextDecoder().decode(body.subarray(offset, space)));
    if (!Number.isInteger(length) || length <= 0 || offset + length > body.byteLength) throw new Error('a pax header record is malformed');
    const record = decoder.decode(body.subarray(space + 1, offset + length - 1));
    const equals = record.indexOf('=');
    const key = record.slice(0, equals);
    if (key === 'path') records.path = record.slice(equals + 1);
    else if (key === 'linkpath') records.linkpath = record.slice(equals + 1);
    offset += length;
  }
  return records;
}
