import type { IncomingMessage } from 'node:http';
import { isatty } from 'node:tty';
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { FileDescriptorSink } from './file-descriptor-sink.ts';
import { redactSecretShapes } from './secret-shapes.ts';

/** Options of `createServerLogger`. */
export interface ServerLoggerOptions {
  /** Human-readable lines instead of JSON; default: when the destination is a terminal. */
  readonly pretty?: boolean;
  /** The lowest level written; default `info`. */
  readonly level?: Level | 'silent';
  /**
   * Where lines go; default standard output (file descriptor 1). A number is a file descriptor,
   * written through a `FileDescriptorSink` of its own; pass one to read its health.
   */
  readonly destination?: number | DestinationStream;
}

/** Field names whose values are secrets wherever a request body carries them. */
const secretFieldNames = ['token', 'secret', 'password', 'value'] as const;

/**
 * Paths pino replaces with `[redacted]` before a line is written. The request logging of this
 * server never logs headers or bodies; these catch a caller (a route, a seam) that logs one anyway.
 */
export const redactedPaths: readonly string[] = [
  ...['headers', 'req.headers', 'request.headers'].flatMap((headers) => [`${headers}.authorization`, `${headers}.cookie`, `${headers}["x-cairn-token"]`]),
  ...['body', 'req.body', 'request.body', 'body.*', 'req.body.*', 'request.body.*'].flatMap((body) => secretFieldNames.map((name) => `${body}.${name}`)),
];

/**
 * The server's logger (pino): JSON lines, or pretty lines on a terminal. Secrets never reach the
 * output: authorization headers and body fields named token/secret/password/value are redacted by
 * path, and token-shaped strings (`cairn_…`, `whsec_…`) by shape in every line as it is written —
 * after serialisation, so a token inside an error message or a URL is caught too. Requests are
 * serialised as method and path only (no query string, headers or body).
 */
export function createServerLogger(options: ServerLoggerOptions = {}): Logger {
  const destination = options.destination ?? 1;
  const pretty = options.pretty ?? (typeof destination === 'number' && isatty(destination));
  // A descriptor is written through a sink that drops what it cannot write: a full disk under the
  // log never stops the server (docs/operations/failures.md).
  const sink: DestinationStream = typeof destination === 'number' ? new FileDescriptorSink(destination) : destination;
  // Colour only for a terminal, and never when the user set NO_COLOR (https://no-color.org).
  const format = pretty ? pinoPretty.prettyFactory({ colorize: !process.env['NO_COLOR'] }) : (line: string) => line;
  const redacting: DestinationStream = { write: (line: string) => sink.write(format(redactSecretShapes(line))) };
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: [...redactedPaths], censor: '[redacted]' },
      serializers: {
        req: (request: IncomingMessage) => ({ method: request.method, path: request.url?.split('?')[0] }),
        res: (reply: { statusCode?: number }) => ({ status: reply.statusCode }),
        err: pino.stdSerializers.err,
      },
    },
    redacting,
  );
}
