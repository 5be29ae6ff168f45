import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

/** The plain CONNECT proxy: its port and `stop`. */
export interface PlainConnectProxy {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * The least a CONNECT proxy does, in node:net: read the request head, look the name up in `hosts`,
 * connect, answer 200 and pipe both ways. No decision, no record, no ClientHello check: the floor
 * the egress proxy's own tunnel is compared against, on the same Node and in the same process.
 */
export async function startPlainConnectProxy(hosts: Readonly<Record<string, string>>): Promise<PlainConnectProxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      client.off('data', onData);
      client.pause();
      const target = /^CONNECT ([^\s:]+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.subarray(0, end + 2).toString('latin1'));
      const address = target ? hosts[target[1]!] : undefined;
      if (target === null || address === undefined) return void client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      const upstream = connect({ host: address, port: Number(target[2]) }, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (end + 4 < head.length) upstream.write(head.subarray(end + 4));
        client.pipe(upstream).pipe(client);
        client.resume();
      });
      sockets.add(upstream);
      upstream.on('close', () => (sockets.delete(upstream), client.destroy()));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
