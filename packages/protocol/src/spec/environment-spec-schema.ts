import type { EnvironmentSpec } from '@cairn/core';
import { z } from 'zod';
import type { SchemaImplements } from '../schemas/schema-implements.ts';
import { workspacePathProblem } from '../workspace/workspace-path.ts';
import { runSpecLimits as limits } from './run-spec-limits.ts';

// A warm environment (ADR 0056): its setup, the files that key it and the setup's own limits.
// Sizes are the setup's disk: at least 16 MiB (an ext4 image smaller than that holds little but
// its own tables), at most 16 TiB, as an attempt's workspace limit.

const noNul = { error: 'must not hold a NUL character (\\u0000): a program cannot be given one' };

/** `"512MiB"`, `"2GiB"`, `"1.5GiB"`: binary units only, so there is no doubt whether a GB is 10^9 or 2^30. */
export const sizeTextPattern = /^(\d+(?:\.\d+)?)\s?(B|KiB|MiB|GiB|TiB)$/;
const unitBytes = { B: 1, KiB: 1_024, MiB: 1_048_576, GiB: 1_073_741_824, TiB: 1_099_511_627_776 } as const;
const minimumDiskBytes = 16_777_216;
const maximumDiskBytes = 17_592_186_044_416;

/** The bytes of a `diskLimit` (a number of bytes or a size text); undefined for one the schema refuses. */
export function environmentDiskBytes(limit: number | string): number | undefined {
  if (typeof limit === 'number') return Number.isInteger(limit) ? limit : undefined;
  const match = sizeTextPattern.exec(limit);
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * unitBytes[match[2] as keyof typeof unitBytes]);
}

const diskLimit = z.union([z.int(), z.string()]).superRefine((limit, context) => {
  const bytes = environmentDiskBytes(limit);
  if (bytes === undefined) {
    context.addIssue({ code: 'custom', message: 'must be a whole number of bytes or a size such as "512MiB" or "2GiB" (B, KiB, MiB, GiB, TiB)' });
  } else if (bytes < minimumDiskBytes || bytes > maximumDiskBytes) {
    context.addIssue({ code: 'custom', message: 'must be from 16MiB to 16TiB' });
  }
});

const keyFile = z
  .string()
  .max(4_096, 'must be at most 4096 characters')
  .superRefine((path, context) => {
    const problem = workspacePathProblem(path);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: `must be a file of the workspace, relative to its top: it ${problem}` });
  });

export const environmentSpecSchema = z.strictObject({
  setup: z.strictObject({
    argv: z
      .array(
        z
          .string()
          .max(limits.argumentLength, `must be at most ${limits.argumentLength} characters`)
          .refine((value) => !value.includes('\0'), noNul),
      )
      .max(limits.listEntries, `must have at most ${limits.listEntries} entries`)
      .min(1, 'must name the program to run: [program, ...arguments], e.g. ["npm", "ci"]')
      .refine((argv) => argv[0] !== '', { error: 'must be the program to run, not an empty string', path: [0] }),
  }),
  key: z
    .array(keyFile)
    .min(1, 'must list at least one file (leave key out for the common lockfiles at the top)')
    .max(limits.listEntries, `must have at most ${limits.listEntries} entries`)
    .exactOptional(),
  timeoutSeconds: z.int('must be a whole number of seconds').min(1, 'must be at least 1').max(86_400, 'must be at most 86400 (a day)').exactOptional(),
  diskLimit: diskLimit.exactOptional(),
  base: z
    .string()
    .min(1, 'must not be empty')
    .max(limits.nameLength, `must be at most ${limits.nameLength} characters`)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/, 'must name an image or toolchain: letters, digits and . _ : / @ + -')
    .exactOptional(),
});
true satisfies SchemaImplements<typeof environmentSpecSchema, EnvironmentSpec>;
