// Reading the SNI from real ClientHellos (sent by node:tls to a listener that only records them),
// in whole, in one-byte chunks and fragmented over records, and refusing what is not one.
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { expect, test } from 'vitest';
import { clientHelloByteLimit, readClientHello } from './client-hello.ts';

/** The first record a real TLS client sends, for `servername` (none when empty). */
async function realClientHello(servername: string): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (socket) => {
        let bytes = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          bytes = Buffer.concat([bytes, chunk]);
          if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) {
            resolve(bytes.subarray(0, 5 + bytes.readUInt16BE(3)));
            socket.destroy();
          }
        });
      });
      const client = tlsConnect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', servername });
      client.on('error', () => undefined);
      setTimeout(() => reject(new Error('no ClientHello within 5 s')), 5_000).unref();
    });
  } finally {
    server.close();
  }
}

test('a real ClientHello gives its server name; before its last byte it is incomplete', async () => {
  const hello = await realClientHello('registry.npmjs.org');
  expect(readClientHello(hello)).toEqual({ state: 'complete', serverName: 'registry.npmjs.org' });
  // As TCP may deliver it: every prefix is incomplete, never invalid.
  for (let length = 0; length < hello.length; length++) expect(readClientHello(hello.subarray(0, length))).toEqual({ state: 'incomplete' });
});

test('a ClientHello without SNI (node sends none for an empty servername) is complete with no name', async () => {
  expect(readClientHello(await realClientHello(''))).toEqual({ state: 'complete', serverName: undefined });
});

test('a ClientHello fragmented over two handshake records is reassembled', async () => {
  const hello = await realClientHello('api.example.com');
  const message = hello.subarray(5);
  const record = (fragment: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, fragment.length >> 8, fragment.length & 0xff]), fragment]);
  const split = Buffer.concat([record(message.subarray(0, 40)), record(message.subarray(40))]);
  expect(readClientHello(split.subarray(0, 45))).toEqual({ state: 'incomplete' });
  expect(readClientHello(split)).toEqual({ state: 'complete', serverName: 'api.example.com' });
});

test.each([
  ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\n'), 'are not TLS'],
  ['an SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), 'are not TLS'],
  ['one byte of garbage', Buffer.from([0x00]), 'are not TLS'],
  ['a record of an unknown version', Buffer.from([0x16, 0x09]), 'unknown version'],
  ['an empty record', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]), 'not a valid record'],
  ['a record longer than TLS allows', Buffer.from([0x16, 0x03, 0x01, 0x48, 0x01]), 'not a valid record'],
  ['a ServerHello', Buffer.from([0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]), 'not a ClientHello'],
  ['a ClientHello too large to be one', Buffer.from([0x16, 0x03, 0x03, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00]), 'larger than any client sends'],
  ['a ClientHello whose fields run past its end', Buffer.from([0x16, 0x03, 0x03, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0x03, 0x03, 0xff, 0xff]), 'malformed'],
])('%s is invalid', (_what, bytes, reason) => {
  const reading = readClientHello(bytes);
  expect(reading.state).toBe('invalid');
  expect(reading.state === 'invalid' && reading.reason).toContain(reason);
});

test('a name with a control byte in it, or an alert in the middle, is refused', async () => {
  const hello = Buffer.from(await realClientHello('api.example.com'));
  const at = hello.indexOf('api.example.com');
  hello[at + 3] = 0x00;
  expect(readClientHello(hello)).toMatchObject({ state: 'invalid', reason: expect.stringContaining('not an ASCII host name') });
  const message = (await realClientHello('api.example.com')).subarray(5);
  const first = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 40]), message.subarray(0, 40)]);
  expect(readClientHello(Buffer.concat([first, Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])]))).toMatchObject({ state: 'invalid' });
});

test('a stream of handshake records that never completes a ClientHello is invalid at the bound', () => {
  // A ClientHello announcing 16 KiB less 8 bytes, sent 100 bytes a record: within the bound it waits, then it is refused.
  const length = clientHelloByteLimit - 8;
  const header = Buffer.from([0x01, length >> 16, (length >> 8) & 0xff, length & 0xff]);
  const records: Buffer[] = [Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 4]), header])];
  let total = 9;
  while (total < clientHelloByteLimit) {
    records.push(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 100]), Buffer.alloc(100)]));
    total += 105;
  }
  expect(readClientHello(Buffer.concat(records.slice(0, 10)))).toEqual({ state: 'incomplete' });
  expect(readClientHello(Buffer.concat(records))).toMatchObject({
    state: 'invalid',
    reason: expect.stringContaining(`within the first ${clientHelloByteLimit} bytes`),
  });
});
