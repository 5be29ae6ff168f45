import type { Socket } from 'node:net';
import { CairnError } from '@cairn/protocol';
import type { ConnectionError } from 'fastify';
import { rawErrorResponse } from './raw-error-response.ts';

/**
 * Answers what Node's HTTP parser refuses before any route sees it — headers over 16 KiB, a
 * request that took too long to arrive, bytes that are not HTTP — with a Cairn error body (not
 * the framework's `{ error, statusCode }`), and no body to a HEAD request. A connection the peer
 * already dropped is only closed.
 */
export function answerClientError(error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Node hands the bytes it had read as a Buffer (Fastify's type describes it as serialised JSON).
  const packet: unknown = error.rawPacket;
  const head = Buffer.isBuffer(packet) && packet.subarray(0, 5).toString('latin1') === 'HEAD ';
  socket.end(rawErrorResponse(cairnErrorOf(error), { head }));
}

function cairnErrorOf(error: ConnectionError): CairnError {
  if (error.code === 'HPE_HEADER_OVERFLOW')
    return new CairnError('CAIRN_REQUEST_HEADERS_TOO_LARGE', 'The request headers are larger than this server takes (16 KiB in all).', { path: 'headers' });
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return new CairnError('CAIRN_REQUEST_TIMED_OUT', 'The request did not arrive in time (server.timeouts.headers or server.timeouts.request).');
  return new CairnError('CAIRN_PAYLOAD_INVALID', `The request is not valid HTTP (${error.code ?? error.message}).`, {
    path: 'request',
    action: 'Send an HTTP/1.1 request; a client library (@cairn/client, the cairn CLI, curl) does.',
  });
}
