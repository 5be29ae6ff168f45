import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the proxy did to one request. */
export type FaultKind = 'passed' | 'error-500' | 'error-503' | 'reset-before' | 'reset-after';

export interface S3FaultProxyOptions {
  /** The S3 endpoint behind it (`http://127.0.0.1:7480`). */
  readonly upstream: string;
  /** The share of requests that meet a fault, 0 to 1. */
  readonly faultRate: number;
  /** Seeds the fault sequence: the same seed and the same requests meet the same faults. */
  readonly seed: number;
}

export interface S3FaultProxy {
  /** Where clients send their requests instead of `upstream`. */
  readonly endpoint: string;
  /** How many requests met each fault (and how many passed untouched). */
  readonly counts: Readonly<Record<FaultKind, number>>;
  /** Stops injecting faults (every request passes) or starts again. */
  setFaultRate(rate: number): void;
  close(): Promise<void>;
}

/** mulberry32: a small seeded generator, so a failing run can be replayed with its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * An HTTP proxy on loopback in front of a real S3 server that makes a share of requests fail the
 * ways a network and a busy S3 do: a 500 `InternalError` or a 503 `SlowDown` answered without
 * forwarding, a connection reset before forwarding, and a connection reset AFTER S3 carried the
 * request out (its answer lost: the client cannot know whether a put happened, and must retry
 * safely). Requests are forwarded unchanged, Host header included, so SigV4 signatures still hold.
 */
export async function startS3FaultProxy(options: S3FaultProxyOptions): Promise<S3FaultProxy> {
  const upstream = new URL(options.upstream);
  const random = seededRandom(options.seed);
  let faultRate = options.faultRate;
  const counts: Record<FaultKind, number> = { passed: 0, 'error-500': 0, 'error-503': 0, 'reset-before': 0, 'reset-after': 0 };
  const sockets = new Set<Socket>();
  const faultOf = (): FaultKind => {
    if (random() >= faultRate) return 'passed';
    const faults: FaultKind[] = ['error-500', 'error-503', 'reset-before', 'reset-after'];
    return faults[Math.floor(random() * faults.length)]!;
  };
  const answerError = (response: ServerResponse, status: 500 | 503) => {
    const [code, message] =
      status === 500 ? ['InternalError', 'We encountered an internal error. Please try again.'] : ['SlowDown', 'Please reduce your request rate.'];
    response.writeHead(status, { 'content-type': 'application/xml' });
    response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  };
  const handle = (incoming: IncomingMessage, response: ServerResponse) => {
    const fault = faultOf();
    counts[fault] += 1;
    if (fault === 'error-500' || fault === 'error-503') {
      // The body is read (and dropped) first, as a real server would, so the client sees the answer.
      incoming.resume();
      incoming.on('end', () => answerError(response, fault === 'error-500' ? 500 : 503));
      return;
    }
    if (fault === 'reset-before') {
      incoming.socket.resetAndDestroy();
      return;
    }
    const forwarded = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
      (answer) => {
        if (fault === 'reset-after') {
          // S3 has done it; the client never hears so.
          answer.resume();
          answer.on('end', () => incoming.socket.resetAndDestroy());
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.on('error', () => incoming.socket.destroy());
    incoming.pipe(forwarded);
  };
  const server: Server = createServer(handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    setFaultRate: (rate) => void (faultRate = rate),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
