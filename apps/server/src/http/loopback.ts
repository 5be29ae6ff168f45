import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { AuditActor } from '@cairn/core';

/**
 * The one operator of a loopback-operator server: who a request from the server's own user,
 * made outside a browser, acts as, and who its audit entries name. Compared by identity.
 */
export const loopbackOperator: AuditActor = Object.freeze({ kind: 'user', id: 'operator', via: 'http' });

/** Whether `host` binds only this machine's loopback interface. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** Peers already looked up, by connection: a keep-alive connection is looked up once. */
const peerUids = new WeakMap<Socket, number | null>();

/**
 * The uid owning the other end of a loopback TCP connection, read from /proc/net/tcp (or tcp6):
 * the peer's socket is the line whose local address is the connection's remote one and whose
 * remote address is ours. Null where no such line is found (not Linux, the peer already gone).
 */
export function loopbackPeerUid(socket: Socket): number | null {
  const known = peerUids.get(socket);
  if (known !== undefined) return known;
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  let uid: number | null = null;
  if (remoteAddress !== undefined && remotePort !== undefined && localAddress !== undefined && localPort !== undefined) {
    // A v4-mapped peer (::ffff:127.0.0.1, on a dual-stack listener) is an IPv4 socket in
    // /proc/net/tcp, or an IPv6 one in tcp6: both are looked at.
    const tables: [string, string, string][] = [[`/proc/net/tcp6`, remoteAddress, localAddress]];
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
    if (!remoteAddress.includes(':')) tables[0] = ['/proc/net/tcp', remoteAddress, localAddress];
    else if (mapped.test(remoteAddress) && mapped.test(localAddress))
      tables.unshift(['/proc/net/tcp', remoteAddress.replace(mapped, '$1'), localAddress.replace(mapped, '$1')]);
    for (const [file, remote, local] of tables) {
      uid = peerIn(file, `${procAddress(remote)}:${procPort(remotePort)}`, `${procAddress(local)}:${procPort(localPort)}`);
      if (uid !== null) break;
    }
  }
  peerUids.set(socket, uid);
  return uid;
}

/** The uid of the line of `file` from `peer` to `ours`, or null. */
function peerIn(file: string, peer: string, ours: string): number | null {
  let table = '';
  try {
    table = readFileSync(file, 'utf8');
  } catch {
    // No procfs: the peer stays unknown.
  }
  for (const line of table.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === peer && fields[2] === ours) return Number(fields[7]);
  }
  return null;
}

/** An address as /proc/net/tcp{,6} prints it: the bytes of each 32-bit word in host (little-endian) order, upper-case hex. */
function procAddress(address: string): string {
  const bytes = address.includes(':') ? ipv6Bytes(address) : address.split('.').map(Number);
  let text = '';
  for (let word = 0; word < bytes.length; word += 4) {
    for (let index = 3; index >= 0; index--) text += (bytes[word + index] ?? 0).toString(16).padStart(2, '0');
  }
  return text.toUpperCase();
}

function procPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/** The 16 bytes of an IPv6 address (with `::` and a trailing dotted IPv4 part, as in ::ffff:127.0.0.1). */
function ipv6Bytes(address: string): number[] {
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const groups = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((group) => {
      if (group.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
        return [(a << 8) | b, (c << 8) | d];
      }
      return [Number.parseInt(group, 16)];
    });
  };
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const words = [...front, ...Array.from({ length: 8 - front.length - back.length }, () => 0), ...back];
  return words.flatMap((word) => [word >> 8, word & 0xff]);
}
