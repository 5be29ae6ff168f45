// The stand-in internet's name server: A records from a fixed table over UDP and TCP (RFC 1035),
// NXDOMAIN for a name outside it, an empty answer for another type of a name inside it (so a
// resolver asking A and AAAA together takes the A answer). Written here rather than taken from
// dnsmasq: a few dozen lines, no package to install, and it reports each question it was asked.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv4, createServer as createTcpServer, type Server as TcpServer } from 'node:net';

/** Name (lower case, no trailing dot) to its IPv4 addresses. */
export type NameTable = ReadonlyMap<string, readonly string[]>;

export interface NameServer {
  close(): Promise<void>;
}

const typeA = 1;
const classIn = 1;

interface Question {
  readonly name: string;
  readonly type: number;
  /** Offset where the question section ends: the answer copies everything before it. */
  readonly end: number;
}

function readQuestion(query: Buffer): Question | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = query[offset];
    if (length === undefined || length > 63) return undefined;
    offset += 1;
    if (length === 0) break;
    labels.push(query.subarray(offset, offset + length).toString('latin1'));
    offset += length;
  }
  if (offset + 4 > query.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: query.readUInt16BE(offset), end: offset + 4 };
}

/** The answer to one query, or undefined for bytes that are no query (dropped, as a server would). */
export function answer(query: Buffer, table: NameTable, onQuestion: (name: string, type: number) => void): Buffer | undefined {
  const question = readQuestion(query);
  if (question === undefined) return undefined;
  onQuestion(question.name, question.type);
  const addresses = table.get(question.name);
  const records = addresses !== undefined && question.type === typeA && query.readUInt16BE(question.end - 2) === classIn ? addresses : [];
  const header = Buffer.from(query.subarray(0, question.end));
  const recursionDesired = query.readUInt16BE(2) & 0x0100;
  // QR, the query's opcode, AA, the query's RD, RA; RCODE 3 (NXDOMAIN) for a name outside the table.
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7800) | 0x0400 | recursionDesired | 0x0080 | (addresses === undefined ? 3 : 0), 2);
  header.writeUInt16BE(records.length, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  const answers = records.map((address) => {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // a pointer to the question's name
    record.writeUInt16BE(typeA, 2);
    record.writeUInt16BE(classIn, 4);
    record.writeUInt32BE(5, 6); // seconds: short, as a test may start another internet
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((part, index) => record.writeUInt8(Number(part), 12 + index));
    return record;
  });
  return Buffer.concat([header, ...answers]);
}

/** Serves `table` on `host`:`port`, UDP and TCP; `onQuestion` hears each name and type asked. */
export async function startNameServer(table: NameTable, host: string, port: number, onQuestion: (name: string, type: number) => void): Promise<NameServer> {
  for (const [name, addresses] of table)
    for (const address of addresses) if (!isIPv4(address)) throw new Error(`name server: ${name} maps to ${address}, not an IPv4 address`);
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', (query, sender) => {
    const reply = answer(query, table, onQuestion);
    if (reply !== undefined) udp.send(reply, sender.port, sender.address);
  });
  const tcp: TcpServer = createTcpServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        const query = received.subarray(2, 2 + received.readUInt16BE(0));
        received = received.subarray(2 + query.length);
        const reply = answer(query, table, onQuestion);
        if (reply === undefined) return socket.destroy();
        const length = Buffer.alloc(2);
        length.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([length, reply]));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, host, () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => resolve());
  });
  return {
    close: async () => {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
