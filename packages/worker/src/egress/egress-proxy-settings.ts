import { z } from 'zod';
import type { AddressPolicy } from './address-policy.ts';
import type { EgressResolver } from './egress-decision.ts';

/** An attempt's egress proxy settings, validated at start (CAIRN_CONFIG_INVALID naming each option under `egress`). */
export const egressProxySettingsSchema = z.strictObject({
  /** Allow entries (`host`, `*.domain`, either with `:port`). */
  allow: z.array(z.string()),
  /** Deny entries, same form; a deny entry wins over every allow entry. */
  deny: z.array(z.string()).default([]),
  limits: z
    .strictObject({
      /** Connections (tunnels and plain requests) the attempt may open to hosts. */
      connections: z.number().int().positive().optional(),
      /** Bytes, both ways over all connections, the attempt may move. */
      bytes: z.number().int().positive().optional(),
    })
    .default({}),
  /** The server's and worker's own public addresses: never connected to. */
  ownAddresses: z.array(z.string()).default([]),
  /** How long a tunnel waits for the client's ClientHello, in milliseconds. */
  clientHelloTimeout: z.number().int().positive().default(10_000),
  /**
   * Credential bindings (ADR 0049): TLS to `host` is terminated, the secret's placeholder replaced
   * by its value in each request, and, with `header`, that header set from `value` when the request
   * lacks it (`{secret}` stands for the value of the secret named `secret`). Each host must be
   * admitted by the allow-list (the run spec's check, said again where the proxy starts).
   */
  credentials: z.array(z.strictObject({ host: z.string(), secret: z.string(), header: z.string().optional(), value: z.string().optional() })).default([]),
  /** CA certificates (PEM) trusted for hosts with a binding besides Node's roots: an organisation's internal CA, a test's CA. */
  trust: z.array(z.string()).default([]),
});
export type EgressProxySettings = z.input<typeof egressProxySettingsSchema>;

/** What the host injects: the resolver, the secrets, and, for tests standing in for the internet on loopback alone, the address policy. */
export interface EgressProxyHooks {
  readonly resolve?: EgressResolver;
  /** Replaces the strict default (loopback, private, link-local ... refused); only a test passes one. */
  readonly addressPolicy?: AddressPolicy;
  readonly now?: () => Date;
  /** Secret values by name, for the credential bindings; never logged, recorded or put in an error. */
  readonly secrets?: Readonly<Record<string, string>>;
}

/** Where the proxy listens besides its Unix socket: TCP on 127.0.0.1, for tests and a runtime sharing the worker's namespace. */
export interface EgressProxyDoors {
  readonly loopback: boolean;
}
