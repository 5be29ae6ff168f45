import type { CandidateCheckSpec, CandidateJudgeSpec, CandidateVariation, CandidatesSpec, SelectSpec } from '@cairn/core';
import { z } from 'zod';
import { durationPattern } from '../json/duration.ts';
import type { SchemaImplements } from '../schemas/schema-implements.ts';
import { runSpecLimits as limits } from './run-spec-limits.ts';
import { agentRuntimeSpecSchema } from './run-spec-schema.ts';

// A round of candidates runs at once, each in a sandbox of its own: the bound keeps one item from
// taking a host (ADR 0053).
export const maxCandidates = 16;

const noNul = { error: 'must not hold a NUL character (\\u0000): a program cannot be given one' };
const argument = z
  .string()
  .max(limits.argumentLength, `must be at most ${limits.argumentLength} characters`)
  .refine((value) => !value.includes('\0'), noNul);
const argv = z
  .array(argument)
  .max(limits.listEntries, `must hold at most ${limits.listEntries} entries`)
  .min(1, 'must name the program to run: [program, ...arguments]')
  .refine((value) => value[0] !== '', { error: 'must be the program to run, not an empty string', path: [0] });
const environmentName = /^[A-Za-z_][A-Za-z0-9_]*$/;

const environment = z
  .record(
    z.string().regex(environmentName, 'must be an environment variable name: letters, digits and "_", not starting with a digit'),
    z
      .string()
      .max(limits.textLength, `must be at most ${limits.textLength} characters`)
      .refine((value) => !value.includes('\0'), noNul),
  )
  .refine((entries) => Object.keys(entries).length <= limits.mapEntries, `must hold at most ${limits.mapEntries} entries`);

export const candidateVariationSchema = z
  .strictObject({
    prompt: z
      .string()
      .min(1, 'must not be empty: say what this candidate should do')
      .max(limits.textLength, `must be at most ${limits.textLength} characters`)
      .refine((value) => !value.includes('\0'), noNul)
      .exactOptional(),
    model: z.string().min(1, 'must not be empty').max(limits.nameLength, `must be at most ${limits.nameLength} characters`).exactOptional(),
    argv: argv.exactOptional(),
    env: environment.exactOptional(),
  })
  .refine((variation) => Object.keys(variation).length > 0, 'must change something: prompt, model, argv or env')
  .meta({ description: "What one candidate changes of its item: prompt and model of an agent, argv of a command, env (merged over the item's) of either." });
true satisfies SchemaImplements<typeof candidateVariationSchema, CandidateVariation>;

export const candidatesSpecSchema = z
  .strictObject({
    count: z
      .int('must be a whole number of candidates')
      .min(2, 'must be at least 2 (one candidate is the item itself: leave candidates out)')
      .max(maxCandidates, `must be at most ${maxCandidates} (each candidate runs in a sandbox of its own, all at once)`),
    vary: z.array(candidateVariationSchema).min(1, 'must hold at least one variation (leave vary out to run the item as written)').exactOptional(),
  })
  .refine((candidates) => candidates.vary === undefined || candidates.vary.length <= candidates.count, {
    error: 'must hold at most `count` variations: candidate k runs vary[k-1]',
    path: ['vary'],
  })
  .meta({
    description:
      "Best of N (ADR 0053): count attempts of the item run side by side as one round, each over its own workspace; select chooses the one whose patch is the item's.",
  });
true satisfies SchemaImplements<typeof candidatesSpecSchema, CandidatesSpec>;

export const candidateCheckSpecSchema = z.strictObject({
  argv: argv.meta({
    description: "Run over each candidate's patch in a sandbox of its own: exit 0 passes it; a last stdout line that is a number is its score.",
  }),
  timeout: z.string().regex(durationPattern, 'must be a duration: a positive whole number and one unit of ms, s, m, h or d (30s, 10m, 2h)').exactOptional(),
});
true satisfies SchemaImplements<typeof candidateCheckSpecSchema, CandidateCheckSpec>;

// No secrets, vary, budget or retry of its own (ADR 0053): it runs under the item's budget and,
// like the check, sees none of the item's secrets; a strict object refuses them at their path.
export const candidateJudgeSpecSchema = z
  .strictObject({
    // Lazy: the item's agent runtime schema is defined in the run spec's module, which imports this one.
    runtime: z.lazy(() => agentRuntimeSpecSchema),
    env: environment.exactOptional(),
    timeout: z.string().regex(durationPattern, 'must be a duration: a positive whole number and one unit of ms, s, m, h or d (30s, 10m, 2h)').exactOptional(),
  })
  .meta({
    description:
      'An agent that chooses among two or more candidates the check passed, given their patches and check output tails (never transcripts or secrets); its last output line is {"candidate": n, "reason": "..."}. It only advises: a refused answer leaves the choice to order.',
  });
true satisfies SchemaImplements<typeof candidateJudgeSpecSchema, CandidateJudgeSpec>;

export const selectSpecSchema = z
  .strictObject({
    check: candidateCheckSpecSchema,
    order: z.enum(
      ['score', 'smallest-diff', 'first'],
      "must be score (the highest score of the check's last line), smallest-diff (the fewest patch bytes) or first (the first to pass)",
    ),
    stopOnFirstPass: z.boolean('must be true or false').exactOptional(),
    judge: candidateJudgeSpecSchema.exactOptional(),
  })
  .meta({
    description:
      "How the winner among the item's candidates is chosen: the check passes or fails each, order ranks those that passed (ties: the smaller diff, then the lower candidate).",
  });
true satisfies SchemaImplements<typeof selectSpecSchema, SelectSpec>;
