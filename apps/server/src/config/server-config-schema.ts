import { isDurationText } from '@cairn/protocol';
import { z } from 'zod';

const duration = z.string().refine(isDurationText, 'must be a duration: a whole number and one unit of ms, s, m, h or d (30s, 2m)');

/** Each seam is chosen by `kind`; only `local` exists so far (S3, KMS and Fargate come later). */
const localKind = z.literal('local', { error: "must be 'local' (the only kind this server has today)" });

/**
 * `cairn.config.(yaml|json)`: where the server keeps its data and which seams it composes. Paths
 * are relative to the config file; every seam's path defaults to a place under `dataDirectory`.
 */
export const serverConfigSchema = z.strictObject({
  /** Where the database, storage, keys and anchors live by default. */
  dataDirectory: z.string().min(1, 'must name a directory, e.g. ./cairn-data'),
  server: z
    .strictObject({
      /** Loopback by default: any other address will require tokens. */
      host: z.string().min(1).default('127.0.0.1'),
      port: z.int().min(0).max(65_535).default(7600),
      /**
       * `tokens`: every API request carries a bearer token with the scope it needs. `loopback-operator`:
       * a laptop's single operator, no tokens, loopback only (refused on any other host).
       */
      auth: z.enum(['tokens', 'loopback-operator'], { error: "must be 'tokens' or 'loopback-operator' (loopback hosts only)" }).default('tokens'),
      /**
       * How long a connection may stay silent (`idle`), take to send its headers (`headers`) or its
       * whole request (`request`), and wait between two requests (`keepAlive`); how long a stop
       * waits for open requests and event streams before it cuts them (`shutdownGrace`). Durations.
       * An event stream is never idle: it sends a comment every 15 s.
       */
      timeouts: z
        .strictObject({
          idle: duration.default('60s'),
          headers: duration.default('10s'),
          request: duration.default('60s'),
          keepAlive: duration.default('5s'),
          shutdownGrace: duration.default('10s'),
        })
        .prefault({}),
      /** The lowest log level written (`CAIRN_LOG_LEVEL` overrides it). */
      logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: "must be one of fatal, error, warn, info, debug, trace, silent" }).default('info'),
    })
    .prefault({}),
  storage: z.strictObject({ kind: localKind.default('local'), root: z.string().min(1).optional() }).prefault({}),
  signer: z.strictObject({ kind: localKind.default('local'), keyFile: z.string().min(1).optional() }).prefault({}),
  cipher: z.strictObject({ kind: localKind.default('local'), keyFile: z.string().min(1).optional() }).prefault({}),
  anchors: z.array(z.strictObject({ kind: localKind, directory: z.string().min(1).optional() })).default([{ kind: 'local' }]),
  executor: z
    .strictObject({
      kind: localKind.default('local'),
      /** `none` is for development only: tasks then run without any isolation. */
      sandbox: z.enum(['bubblewrap', 'none'], { error: "must be 'bubblewrap' or 'none' (development only)" }).default('bubblewrap'),
      workRoot: z.string().min(1).optional(),
    })
    .prefault({}),
  engine: z
    .strictObject({
      concurrency: z.int().min(1).max(100_000).default(16),
      queues: z.record(z.string().min(1), z.strictObject({ concurrency: z.int().min(1).max(100_000) })).default({}),
      /** Names this server's log in its checkpoints. */
      origin: z.string().min(1).default('cairn:server'),
    })
    .prefault({}),
  /** OpenTelemetry: off unless `traces` is set (nothing is loaded until then). */
  telemetry: z
    .strictObject({
      traces: z
        .strictObject({
          /** An OTLP/HTTP traces receiver; spans are posted to it as JSON. */
          otlpEndpoint: z.url({ protocol: /^https?$/, hostname: z.regexes.hostname, error: 'must be the http(s) URL of an OTLP/HTTP traces receiver, e.g. http://collector:4318/v1/traces' }),
          /** The `service.name` the spans carry. */
          serviceName: z.string().min(1, 'must name the service, e.g. cairn').default('cairn'),
          /** Sent with every export, e.g. a collector's `authorization`. */
          headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'), z.string()).default({}),
        })
        .optional(),
    })
    .prefault({}),
});

export type ServerConfig = z.output<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;
