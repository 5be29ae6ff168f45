import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EgressRecord } from './egress-record.ts';

/** The header a refusal names its reason in, for tools that read more than the status. */
export const egressRefusalHeader = 'x-cairn-egress-refusal';

export type EgressRefusalStatus = 400 | 403 | 502;

const phrases: Record<EgressRefusalStatus, string> = { 400: 'Bad Request', 403: 'Forbidden', 502: 'Bad Gateway' };

/**
 * What a refused client reads: the target, the reason and, when an allow entry would admit it, that
 * entry. An agent (or the person reading its log) learns what to add, and nothing about the
 * worker's own network.
 */
export function egressRefusalText(record: EgressRecord, status: EgressRefusalStatus): string {
  const advice = record.wouldAdmit === null ? '' : `; add ${JSON.stringify(record.wouldAdmit)} to network.allow`;
  const what = record.kind === 'connect' ? 'CONNECT' : 'request to';
  return `cairn egress: ${status === 502 ? 'failed' : 'refused'} ${what} ${record.host}:${record.port} (${record.reason}): ${record.message}${advice}\n`;
}

/** Answers a CONNECT on its raw socket (the HTTP server has let go of it) and closes it. */
export function answerConnectRefusal(client: Duplex, record: EgressRecord, status: EgressRefusalStatus): void {
  const body = Buffer.from(egressRefusalText(record, status));
  client.end(
    `HTTP/1.1 ${status} ${phrases[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n` +
      `${egressRefusalHeader}: ${record.reason ?? ''}\r\nconnection: close\r\n\r\n${body.toString()}`,
  );
}

/** Answers a plain HTTP request. */
export function respondRefusal(response: ServerResponse, record: EgressRecord, status: EgressRefusalStatus): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', [egressRefusalHeader]: record.reason ?? '', connection: 'close' });
  response.end(egressRefusalText(record, status));
}
