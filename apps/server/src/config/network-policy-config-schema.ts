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
 * to (a secret not listed goes to none). No executor enforces allow-lists yet, so a run with one
 * is refused at submit whatever this says; the policy is checked first, so its messages already
 * say what a spec may hold.
 */
export const networkPolicyConfigSchema = z.strictObject({
  allow: z.array(hostEntry(true)).max(1_000).optional(),
  deny: z.array(hostEntry(true)).max(1_000).optional(),
  credentialHosts: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be the name of a secret (letters, digits and "_")'), z.array(hostEntry(true)).max(1_000))
    .optional(),
});
