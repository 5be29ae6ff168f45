import { Agent, createServer, type IncomingHttpHeaders, type IncomingMessage, request as httpRequest, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does to a request it picks: answer `500 InternalError` or `503 SlowDown` without
 * forwarding; cut the connection before forwarding (`reset-before`); or forward it, let S3 act on
 * it, and cut the connection half-way through S3's answer (`reset-after`: the write happened, the
 * client never hears so); or hold it unanswered until the client gives up (`stall`: only when
 * asked for, it tests request timeouts).
 */
export type S3Fault = 'status-500' | 'status-503' | 'reset-before' | 'reset-after' | 'stall';

export interface S3FaultProxyOptions {
  /** The S3 endpoint to forward to (`http://127.0.0.1:7480`). */
  readonly target: string;
  /** Fraction of requests, 0..1, that get a fault. */
  readonly faultRate: number;
  /** The seed of the fault sequence: one seed, one sequence of choices (given the same request order). */
  readonly seed: number;
  /** The faults to pick from, evenly; all but `stall` by default. */
  readonly faults?: readonly S3Fault[];
  /** Which requests may get a fault (all by default), e.g. only multipart completions. */
  readonly select?: (request: IncomingMessage) => boolean;
  /** Changes S3's answer headers before they reach the client (to play a server that answers otherwise). */
  readonly rewriteResponseHeaders?: (headers: IncomingHttpHeaders, request: IncomingMessage) => IncomingHttpHeaders;
}

export interface S3FaultProxy {
  /** The proxy's endpoint, for the client under test (with `forcePathStyle: true`). */
  readonly endpoint: string;
  /** Requests seen, and faults injected by kind; `outage`: connections cut because an outage was on. */
  readonly counts: { requests: number; forwarded: number; outage: number } & Record<S3Fault, number>;
  /** Changes the fraction of requests that get a fault from now on (0: every request passes). */
  setFaultRate(rate: number): void;
  /**
   * Starts an outage, as when the S3 server is killed: every open connection is cut at once (a
   * request S3 was acting on may have been done, unheard), and every connection made until
   * `endOutage()` is cut as soon as it is accepted (the client sees a reset or a hang-up).
   */
  startOutage(): void;
  /** Ends the outage: connections are served again. */
  endOutage(): void;
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of an S3 endpoint that answers a seeded fraction of requests
 * with a 5xx or a reset connection, before or after forwarding. Requests are forwarded with their
 * headers unchanged (the `Host` the client signed included), so SigV4 signatures still verify.
 */
export async function startS3FaultProxy(options: S3FaultProxyOptions): Promise<S3FaultProxy> {
  const target = new URL(options.target);
  const faults = options.faults ?? ['status-500', 'status-503', 'reset-before', 'reset-after'];
  const random = seededRandom(options.seed);
  let faultRate = options.faultRate;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let outage = false;
  const counts = { requests: 0, forwarded: 0, outage: 0, 'status-500': 0, 'status-503': 0, 'reset-before': 0, 'reset-after': 0, stall: 0 };
  const sockets = new Set<Socket>();

  const forward = (request: IncomingMessage, response: ServerResponse, cutHalfWay: boolean) => {
    counts.forwarded++;
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers, agent },
      (answer) => {
        const headers = options.rewriteResponseHeaders ? options.rewriteResponseHeaders(answer.headers, request) : answer.headers;
        if (!cutHalfWay) {
          response.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(response);
          return;
        }
        // Headers and about half the body, then the connection is cut: the client sees a reset mid-answer.
        const length = Number(answer.headers['content-length'] ?? 0);
        response.writeHead(answer.statusCode ?? 502, headers);
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= length / 2) return;
          const slice = chunk.subarray(0, Math.max(0, Math.ceil(length / 2) - sent));
          sent += slice.byteLength;
          response.write(slice);
        });
        answer.on('end', () => response.socket?.destroy());
        answer.on('error', () => response.socket?.destroy());
      },
    );
    upstream.on('error', () => response.socket?.destroy());
    request.pipe(upstream);
  };

  const server = createServer((request, response) => {
    counts.requests++;
    const eligible = options.select?.(request) ?? true;
    const fault = eligible && random() < faultRate ? faults[Math.floor(random() * faults.length)]! : undefined;
    if (fault !== undefined) counts[fault]++;
    if (fault === undefined || fault === 'reset-after') return forward(request, response, fault === 'reset-after');
    if (fault === 'reset-before') {
      request.socket.destroy();
      return;
    }
    if (fault === 'stall') {
      request.resume(); // read, never answered: the socket is closed by the client or by close()
      return;
    }
    // The request's body is read first, as S3 does, so the client is not cut off mid-send.
    request.resume();
    request.on('end', () => {
      const [status, code] = fault === 'status-500' ? [500, 'InternalError'] : [503, 'SlowDown'];
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>`;
      response.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      response.end(body);
    });
  });
  server.on('connection', (socket) => {
    if (outage) {
      counts.outage++;
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts,
    setFaultRate: (rate) => {
      faultRate = rate;
    },
    startOutage: () => {
      outage = true;
      counts.outage += sockets.size;
      for (const socket of sockets) socket.destroy();
    },
    endOutage: () => {
      outage = false;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** mulberry32: a small, fast PRNG, good enough to spread faults and reproducible from a seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}
