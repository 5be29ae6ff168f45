import { STATUS_CODES } from 'node:http';
import type { CairnError } from '@cairn/protocol';

/**
 * An error answer written straight to a socket, where no request was parsed to answer through
 * Fastify (a request the HTTP parser refused, a connection over the cap): the same
 * `{ code, message, action }` body every other error has, with `nosniff`, closing the connection.
 * A HEAD request gets the headers alone.
 */
export function rawErrorResponse(error: CairnError, options: { readonly head?: boolean } = {}): string {
  const body = JSON.stringify({ code: error.code, message: error.message, action: error.action, ...(error.path === undefined ? {} : { path: error.path }) });
  return [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'x-content-type-options: nosniff',
    'connection: close',
    '',
    options.head === true ? '' : body,
  ].join('\r\n');
}
