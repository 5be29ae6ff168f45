import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import type { Socket } from 'node:net';

/** Uids already found, per connection: a connection's owner does not change while it is open. */
const known = new WeakMap<Socket, number | null>();

/**
 * The uid of the process that opened a loopback TCP connection to this server, read from the
 * kernel's socket table (`/proc/net/tcp`, `/proc/net/tcp6`): the row whose local end is the
 * client's end of `socket`. Null when it cannot be told (not Linux, no such row). Looked up once
 * per connection.
 */
export function peerUid(socket: Socket): number | null {
  const cached = known.get(socket);
  if (cached !== undefined) return cached;
  const uid = lookUp(socket);
  known.set(socket, uid);
  return uid;
}

function lookUp(socket: Socket): number | null {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return null;
  const client = `${hexAddress(remoteAddress)}:${hexPort(remotePort)}`;
  const server = `${hexAddress(localAddress)}:${hexPort(localPort)}`;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
      const fields = line.trim().split(/\s+/);
      if (fields[1] === client && fields[2] === server) return Number(fields[7]);
    }
  }
  return null;
}

/** An address as the kernel's table writes it: IPv4 as one little-endian word, IPv6 as four. */
function hexAddress(address: string): string {
  const mapped = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(mapped)) {
    const table = address === mapped ? '' : '0000000000000000FFFF0000';
    const word = mapped.split('.').map((part) => Number(part).toString(16).padStart(2, '0').toUpperCase()).reverse().join('');
    return table === '' ? word : `${table}${word}`;
  }
  const groups = expandIpv6(mapped);
  let hex = '';
  for (let word = 0; word < 4; word++) {
    const bytes = [groups[word * 2]! >> 8, groups[word * 2]! & 0xff, groups[word * 2 + 1]! >> 8, groups[word * 2 + 1]! & 0xff];
    hex += bytes.reverse().map((byte) => byte.toString(16).padStart(2, '0').toUpperCase()).join('');
  }
  return hex;
}

function expandIpv6(address: string): number[] {
  const [head, tail] = address.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function hexPort(port: number): string {
  return port.toString(16).padStart(4, '0').toUpperCase();
}
