import { oidcAuthorizerSettingsSchema } from '@cairn/oidc';
import { z } from 'zod';
import { oidcSignInClientsShape } from '../capabilities/access/oidc-sign-in-settings.ts';
import { duration } from './duration-setting.ts';

/** `server:`: how the HTTP API listens, who may call it, and its limits. */
export const serverSectionSchema = z
  .strictObject({
    /** Loopback by default: any other address will require tokens. */
    host: z.string().min(1).default('127.0.0.1'),
    port: z.int().min(0).max(65_535).default(7600),
    /**
     * The server's address as people reach it (`https://cairn.example.com`): a delivered change
     * request links the run's evidence under it. Unset, the links are paths (`/v1/runs/...`).
     */
    publicUrl: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL people reach this server at, e.g. https://cairn.example.com' }).optional(),
    /**
     * `tokens`: every API request carries a bearer token with the scope it needs. `loopback-operator`:
     * a laptop's single operator, no tokens, loopback only (refused on any other host).
     */
    auth: z.enum(['tokens', 'loopback-operator'], { error: "must be 'tokens' or 'loopback-operator' (loopback hosts only)" }).default('tokens'),
    /**
     * Sign-in with an OpenID provider (`@cairn/oidc`): with `auth: tokens`, a bearer JWT it issued
     * for `audience` is accepted beside Cairn's tokens, the person being the actor; `roles` and
     * `grants` give people scopes; `dashboard` and `cli` name the clients people sign in
     * through (docs/operations/sign-in-with-oidc.md).
     */
    oidc: oidcAuthorizerSettingsSchema.safeExtend(oidcSignInClientsShape).optional(),
    /**
     * Host names this server answers to (the `Host` header) besides IP addresses and localhost,
     * e.g. the name of its load balancer: a request naming any other is refused, so a page on a
     * name its author controls, pointed at this machine (DNS rebinding), cannot reach the API.
     * Unset on a server bound to every interface (0.0.0.0, ::), every name is answered.
     */
    allowedHosts: z
      .array(
        z
          .string()
          .regex(
            /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i,
            'must be a host name, e.g. cairn.example.com (no scheme, port or path)',
          ),
      )
      .max(100)
      .default([]),
    /**
     * The most connections held at once; one more is answered 503 and closed. Never more than half
     * the open-files limit (`ulimit -n`): the rest stays for the engine, storage and sandboxes.
     */
    maxConnections: z.int().min(1).max(1_000_000).optional(),
    /** The largest upload (a workspace snapshot), in MiB: held in memory while it is stored. */
    uploadLimitMiB: z.int().min(1).max(4_096).default(256),
    /**
     * How long a connection may stay silent (`idle`), take to send its headers (`headers`) or its
     * whole request (`request`), and wait between two requests (`keepAlive`); how long a stop
     * waits for open requests and event streams before it cuts them (`shutdownGrace`); how long
     * `cairn serve` waits at start for a state database or evidence store that does not answer yet
     * (`storeWait`: one started beside it may be slower; 0 stops at once). Durations.
     * An event stream is never idle: it sends a comment every 15 s.
     */
    timeouts: z
      .strictObject({
        idle: duration.default('60s'),
        headers: duration.default('10s'),
        request: duration.default('60s'),
        keepAlive: duration.default('5s'),
        shutdownGrace: duration.default('10s'),
        storeWait: duration.default('60s'),
      })
      .prefault({}),
    /** The lowest log level written (`CAIRN_LOG_LEVEL` overrides it). */
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'must be one of fatal, error, warn, info, debug, trace, silent' })
      .default('info'),
  })
  .prefault({});
