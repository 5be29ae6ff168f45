import type { NetworkAllowListSpec, NetworkCredentialSpec, NetworkSpec } from '@cairn/core';
import { z } from 'zod';
import type { SchemaImplements } from '../schemas/schema-implements.ts';
import { entriesCover, hostEntryProblem, parseHostEntry } from './network-host-entry.ts';
import { runSpecLimits as limits } from './run-spec-limits.ts';

// An item's network (ADR 0049): false, true, or { allow, credentials }. Whether the secrets a
// credential names are the item's own, and whether the server's policy admits the entries, are
// checked with the whole spec in view (`networkIssues`); here is each entry's own shape.

const hostEntry = (wildcards: boolean) =>
  z.string().superRefine((entry, context) => {
    const problem = hostEntryProblem(entry, { wildcards });
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  });

// A header name as HTTP defines a token; the value goes on one header line.
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const networkCredentialSpecSchema = z.strictObject({
  host: hostEntry(false),
  secret: z
    .string()
    .max(limits.nameLength, `must be at most ${limits.nameLength} characters`)
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must name a secret of the item (one of its `secrets`)'),
  as: z
    .strictObject({
      header: z
        .string()
        .min(1, 'must name a header, e.g. Authorization')
        .max(256, 'must be at most 256 characters')
        .regex(headerNamePattern, 'must be an HTTP header name, e.g. Authorization'),
      value: z
        .string()
        .max(4_096, 'must be at most 4096 characters')
        .refine((value) => value.includes('{secret}'), 'must hold {secret} where the secret goes, e.g. "Bearer {secret}"')
        .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), 'must be one line without control characters'),
    })
    .exactOptional(),
});
true satisfies SchemaImplements<typeof networkCredentialSpecSchema, NetworkCredentialSpec>;

export const networkAllowListSpecSchema = z
  .strictObject({
    allow: z
      .array(hostEntry(true))
      .min(1, 'must list at least one host (use network: false for none)')
      .max(limits.listEntries, `must hold at most ${limits.listEntries} entries`),
    credentials: z.array(networkCredentialSpecSchema).max(limits.listEntries, `must hold at most ${limits.listEntries} entries`).exactOptional(),
  })
  .superRefine((network, context) => {
    // Only when every entry is well-formed: a malformed one is already reported at its own path.
    if (network.allow.some((entry) => hostEntryProblem(entry) !== undefined)) return;
    const allowed = network.allow.map(parseHostEntry);
    network.credentials?.forEach((credential, index) => {
      if (hostEntryProblem(credential.host, { wildcards: false }) !== undefined) return;
      if (entriesCover(allowed, parseHostEntry(credential.host))) return;
      context.addIssue({
        code: 'custom',
        path: ['credentials', index, 'host'],
        message: `is not admitted by this network's allow list: add ${JSON.stringify(credential.host)} (or a *.domain above it) to allow, or send the credential to a host it admits`,
      });
    });
  });
true satisfies SchemaImplements<typeof networkAllowListSpecSchema, NetworkAllowListSpec>;

export const networkSpecSchema = z.union([z.boolean(), networkAllowListSpecSchema], {
  error: 'must be true (unrestricted), false (none, the default) or an allow list { allow: [host, ...], credentials: [{ host, secret, as }] }',
});
true satisfies SchemaImplements<typeof networkSpecSchema, NetworkSpec>;
