// The egress bench's client for the per-connection rows, in a process of its own (the proxies run
// in the bench's, the hosts in theirs): one GET on a new connection at a time, never kept alive,
// each way in every round, the order rotated from one round to the next so that no way always
// follows another. Its argument is the JSON of `EgressConnectionsConfiguration`; it prints the
// milliseconds of each way's requests, in round order, as one JSON line.
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** How one way reaches its host: straight, through a proxy's CONNECT tunnel, or as a plain proxy request. */
export type EgressWay =
  | { readonly kind: 'https-direct'; readonly host: string; readonly port: number; readonly ca: string; readonly authorize: boolean }
  | {
      readonly kind: 'https-tunnel';
      readonly proxyPort: number;
      readonly host: string;
      readonly port: number;
      readonly ca: string;
      readonly authorize: boolean;
    }
  | { readonly kind: 'http-direct'; readonly host: string; readonly port: number }
  | { readonly kind: 'http-proxied'; readonly proxyPort: number; readonly host: string; readonly port: number };

export interface EgressConnectionsConfiguration {
  readonly token: string;
  readonly warmup: number;
  readonly rounds: number;
  readonly ways: Readonly<Record<string, EgressWay>>;
}

type Connected = (error: Error | null, socket?: Socket) => void;

/** A tunnel through `proxyPort` to `host:port`, handed over once the proxy answered 200. */
function openTunnel(proxyPort: number, host: string, port: number, done: (error: Error | null, socket?: Socket) => void): void {
  const socket = netConnect({ host: '127.0.0.1', port: proxyPort });
  let received = Buffer.alloc(0);
  socket.once('error', (error) => done(error));
  socket.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
  const onData = (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    const end = received.indexOf('\r\n\r\n');
    if (end === -1) return;
    socket.off('data', onData);
    socket.removeAllListeners('error');
    const head = received.subarray(0, end).toString();
    if (!/^HTTP\/1\.[01] 200/.test(head)) return (socket.destroy(), done(new Error(`CONNECT ${host}:${port} answered ${head.split('\r\n')[0]}`)));
    done(null, socket);
  };
  socket.on('data', onData);
}

function answered(request: ClientRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    request.on('error', reject);
    request.on('response', (response: IncomingMessage) => {
      if (response.statusCode !== 200) return reject(new Error(`answered ${response.statusCode}`));
      response.resume();
      response.on('end', resolve);
      response.on('error', reject);
    });
    request.end();
  });
}

/** One GET the way `way` says, on a connection of its own; resolves once the answer's body has ended. */
function get(way: EgressWay, token: string): Promise<void> {
  const headers: Record<string, string> = { connection: 'close' };
  switch (way.kind) {
    case 'https-direct':
    case 'https-tunnel': {
      if (way.authorize) headers['authorization'] = `Bearer ${token}`;
      const secure = (socket: Socket | undefined, done: Connected) =>
        done(
          null,
          tlsConnect({ ...(socket ? { socket } : { host: '127.0.0.1', port: way.port }), servername: way.host, ca: way.ca, ALPNProtocols: ['http/1.1'] }),
        );
      return answered(
        httpsRequest({
          host: way.host,
          port: way.port,
          path: '/',
          headers,
          // No agent, so that Node uses this connection rather than one of its own.
          createConnection: (_options: unknown, done: Connected) => {
            if (way.kind === 'https-direct') return secure(undefined, done);
            openTunnel(way.proxyPort, way.host, way.port, (error, socket) => (error ? done(error) : secure(socket, done)));
            return undefined;
          },
        } as never),
      );
    }
    case 'http-direct':
      return answered(
        httpRequest({
          host: '127.0.0.1',
          port: way.port,
          path: '/',
          agent: false,
          headers: { ...headers, host: `${way.host}:${way.port}`, authorization: `Bearer ${token}` },
        }),
      );
    case 'http-proxied':
      return answered(
        httpRequest({
          host: '127.0.0.1',
          port: way.proxyPort,
          path: `http://${way.host}:${way.port}/`,
          agent: false,
          headers: { ...headers, host: `${way.host}:${way.port}`, authorization: `Bearer ${token}` },
        }),
      );
  }
}

async function timed(way: EgressWay, token: string): Promise<number> {
  const started = process.hrtime.bigint();
  await get(way, token);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const configuration = JSON.parse(process.argv[2]!) as EgressConnectionsConfiguration;
const names = Object.keys(configuration.ways);
const times: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
for (let round = 0; round < configuration.warmup + configuration.rounds; round++) {
  for (let index = 0; index < names.length; index++) {
    const name = names[(round + index) % names.length]!;
    const milliseconds = await timed(configuration.ways[name]!, configuration.token);
    if (round >= configuration.warmup) times[name]!.push(milliseconds);
  }
}
process.stdout.write(`${JSON.stringify(times)}\n`);
