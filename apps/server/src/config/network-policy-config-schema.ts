import { hostEntryProblem } from '@cairn/protocol';
import { z } from 'zod';

// An entry as a spec's allow entry is written: host, *.domain, either with :port; names only.
const hostEntry = (wildcards: boolean) =>
  z.string().superRefine((entry, context) => {
    const problem = hostEntryProblem(entry, { wildcards });
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  });

/**
 * `executor.network`: the bounds of the network allow-lists a run spec may hold (ADR 0049),
 * checked at submit (`@cairn/engine`'s `networkPolicy`). `allow` (unset: any host) and `deny` list
 * entries as a spec's do; `credentialHosts` binds each secret to the hosts a credential may send it
 * to (a secret not listed goes to none). A Fargate executor cannot enforce an allow-list, so a
 * run with one on it is refused at submit whatever this says.
 */
export const networkPolicyConfigSchema = z.strictObject({
  allow: z.array(hostEntry(true)).max(1_000).optional(),
  deny: z.array(hostEntry(true)).max(1_000).optional(),
  credentialHosts: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of a secret (letters, digits and "_")'), z.array(hostEntry(true)).max(1_000))
    .optional(),
});

/**
 * The local executor's `executor.network`: the policy, and what each allow-listed attempt's egress
 * proxy is started with (`@cairn/worker`'s `egress`): limits per attempt, the name servers it asks
 * instead of the host's resolver, CA certificate files it and the sandboxes trust besides the
 * system's (an internal registry's CA), and this host's own public addresses, never connected to.
 */
export const localNetworkConfigSchema = networkPolicyConfigSchema.extend({
  limits: z
    .strictObject({
      connections: z.int().min(1, 'must be at least 1').optional(),
      bytes: z.int().min(1, 'must be at least 1').optional(),
    })
    .optional(),
  nameServers: z
    .array(z.ipv4({ error: 'must be an IP address' }).or(z.ipv6({ error: 'must be an IP address' })))
    .max(3, 'takes at most 3 name servers')
    .optional(),
  trust: z.array(z.string().min(1, 'must be the path of a PEM file of CA certificates')).max(20).optional(),
  ownAddresses: z
    .array(z.ipv4({ error: 'must be an IP address' }).or(z.ipv6({ error: 'must be an IP address' })))
    .max(100)
    .optional(),
});

/** The part of an `executor.network` the engine bounds specs with (`@cairn/engine`'s `networkPolicy`). */
export function networkPolicyOf(network: z.output<typeof networkPolicyConfigSchema>): z.output<typeof networkPolicyConfigSchema> {
  const { allow, deny, credentialHosts } = network;
  return { ...(allow ? { allow } : {}), ...(deny ? { deny } : {}), ...(credentialHosts ? { credentialHosts } : {}) };
}
