import type { ExecutionOutcome } from '@cairn/core';
import { z } from 'zod';
import { executionStatusSchema, taskEnvelopeSchema } from '../schemas/execution-schemas.ts';
import type { SchemaImplements } from '../schemas/schema-implements.ts';
import { runnerPollLimits } from './runner-poll-limits.ts';

const executionIdSchema = taskEnvelopeSchema.shape.executionId;

/** How an attempt ended, as its runner reports it: an `ExecutionStatus` in state `exited`. */
export interface RunnerExitStatus {
  readonly state: 'exited';
  readonly outcome: ExecutionOutcome;
  readonly exitCode?: number;
  readonly resultKey?: string;
  readonly reason?: string;
}

// A runner's report carries no result record (ADR 0060): the server reads the one the runner
// stored, so a record that is not in storage can never be recorded from a runner's word.
export const runnerExitStatusSchema = executionStatusSchema.omit({ result: true }).extend({
  state: z.literal('exited', 'must be exited: a runner reports attempts that ended'),
  outcome: executionStatusSchema.shape.outcome.unwrap(),
});
true satisfies SchemaImplements<typeof runnerExitStatusSchema, RunnerExitStatus>;

/** One ended attempt. */
export interface RunnerExit {
  readonly executionId: string;
  readonly status: RunnerExitStatus;
}

/** `POST /v1/runner/exits`: attempts that ended, reported at once. */
export interface RunnerExitsRequest {
  readonly exits: readonly RunnerExit[];
}

/** A report of ended attempts, in an exits request or a poll: at least one, each execution once. */
export const runnerExitsSchema = z
  .array(z.strictObject({ executionId: executionIdSchema, status: runnerExitStatusSchema }))
  .min(1, 'must report at least one exit')
  .max(runnerPollLimits.slots, `must hold at most ${runnerPollLimits.slots} exits`)
  .refine((exits) => new Set(exits.map((exit) => exit.executionId)).size === exits.length, 'must not report an execution twice');

export const runnerExitsRequestSchema = z.strictObject({ exits: runnerExitsSchema });
true satisfies SchemaImplements<typeof runnerExitsRequestSchema, RunnerExitsRequest>;

/** An exit the server did not take, and why (`not held by this runner`, `lease lapsed at …`). */
export interface RunnerExitRefusal {
  readonly executionId: string;
  readonly reason: string;
}

/** The answer to an exits report: each reported id is in exactly one of the two lists. */
export interface RunnerExitsAnswer {
  readonly accepted: readonly string[];
  readonly refused: readonly RunnerExitRefusal[];
}

export const runnerExitsAnswerSchema = z.strictObject({
  accepted: z.array(executionIdSchema).max(runnerPollLimits.slots, `must hold at most ${runnerPollLimits.slots} execution ids`),
  refused: z
    .array(z.strictObject({ executionId: executionIdSchema, reason: z.string().min(1, 'must say why').max(1_024, 'must be at most 1024 characters') }))
    .max(runnerPollLimits.slots, `must hold at most ${runnerPollLimits.slots} refusals`),
});
true satisfies SchemaImplements<typeof runnerExitsAnswerSchema, RunnerExitsAnswer>;
