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
});
export type EgressProxySettings = z.input<typeof egressProxySettingsSchema>;

/** What the host injects: the resolver, and, for tests standing in for the internet on loopback alone, the address policy. */
export interface EgressProxyHooks {
  readonly resolve?: EgressResolver;
  /** Replaces the strict default (loopback, private, link-local ... refused); only a test passes one. */
  readonly addressPolicy?: AddressPolicy;
  readonly now?: () => Date;
}

/** Where the proxy listens besides its Unix socket: TCP on 127.0.0.1, for tests and a runtime sharing the worker's namespace. */
export interface EgressProxyDoors {
  readonly loopback: boolean;
}
