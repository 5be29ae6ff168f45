import type { TaskEnvelope } from '@cairn/core';
import { z } from 'zod';
import { timestampSchema } from '../schemas/common-schemas.ts';
import { taskEnvelopeSchema } from '../schemas/execution-schemas.ts';
import type { SchemaImplements } from '../schemas/schema-implements.ts';
import { runnerExitsAnswerSchema, runnerExitsSchema, type RunnerExit, type RunnerExitsAnswer } from './runner-exits-schemas.ts';
import { runnerLabelsSchema } from './runner-label.ts';
import { runnerPollLimits } from './runner-poll-limits.ts';

export { runnerPollLimits } from './runner-poll-limits.ts';

const executionIdSchema = taskEnvelopeSchema.shape.executionId;

/** `POST /v1/runner/poll`: who polls (its name comes from its token), what it can take and what it holds. */
export interface RunnerPollRequest {
  /** The runner's version (`0.1.0`); the server refuses another minor version. */
  readonly version: string;
  /** The runner's labels; an item runs here only when every label it asks for is one of these. */
  readonly labels: readonly string[];
  /** Attempts it can start now. */
  readonly slots: number;
  /** Execution ids of the attempts it runs: the poll is their heartbeat. */
  readonly held: readonly string[];
  /** How long to wait for work before answering empty (the server's own wait when absent). */
  readonly waitMs?: number;
  /**
   * Attempts that ended since its last answered poll, reported with this poll rather than by
   * `POST /v1/runner/exits` (one request less an attempt): taken when the poll arrives, before it
   * waits, and answered in `exits` of whatever answers this poll. Not listed in `held` as well.
   */
  readonly exits?: readonly RunnerExit[];
}

export const runnerPollRequestSchema = z.strictObject({
  version: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters'),
  labels: runnerLabelsSchema,
  slots: z.int('must be a whole number').min(0, 'must not be negative').max(runnerPollLimits.slots, `must be at most ${runnerPollLimits.slots}`),
  held: z
    .array(executionIdSchema)
    .max(runnerPollLimits.slots, `must hold at most ${runnerPollLimits.slots} execution ids`)
    .refine((held) => new Set(held).size === held.length, 'must not name an execution twice'),
  waitMs: z
    .int('must be a whole number')
    .min(0, 'must not be negative')
    .max(runnerPollLimits.waitMs, `must be at most ${runnerPollLimits.waitMs}`)
    .exactOptional(),
  exits: runnerExitsSchema.exactOptional(),
});
true satisfies SchemaImplements<typeof runnerPollRequestSchema, RunnerPollRequest>;

/** One attempt handed to a runner: it holds it from `leasedAt` while it lists it in its polls. */
export interface RunnerLease {
  readonly executionId: string;
  /** What the attempt needs: its manifest's digest, and its secrets and gateway out of band. */
  readonly task: TaskEnvelope;
  /** The labels the item asked for (`runsOn.labels`). */
  readonly labels: readonly string[];
  readonly leasedAt: string;
}

export const runnerLeaseSchema = z
  .strictObject({
    executionId: executionIdSchema,
    task: taskEnvelopeSchema,
    labels: runnerLabelsSchema,
    leasedAt: timestampSchema,
  })
  .refine((lease) => lease.task.executionId === lease.executionId, { message: "must be the lease's executionId", path: ['task', 'executionId'] });
true satisfies SchemaImplements<typeof runnerLeaseSchema, RunnerLease>;

/** The answer to a poll: new leases, held attempts to stop, and how often the runner must poll to keep them. */
export interface RunnerPollAnswer {
  readonly leases: readonly RunnerLease[];
  /** Held execution ids to stop at once: cancelled, revoked (their lease lapsed) or unknown to the server. */
  readonly cancel: readonly string[];
  /** A held attempt not listed in a poll for this long is lost to the runner. */
  readonly leaseMs: number;
  /**
   * Present while an operator drains the runner (`cairn runners drain`): the server gives it no new
   * leases; what it holds runs on, heartbeated and reported as before. Absent once it is resumed.
   */
  readonly drain?: true;
  /** Present when the poll carried `exits`: which the server took and which it refused, as `POST /v1/runner/exits` answers. */
  readonly exits?: RunnerExitsAnswer;
}

export const runnerPollAnswerSchema = z.strictObject({
  leases: z.array(runnerLeaseSchema).max(runnerPollLimits.slots, `must hold at most ${runnerPollLimits.slots} leases`),
  cancel: z.array(executionIdSchema).max(runnerPollLimits.slots, `must hold at most ${runnerPollLimits.slots} execution ids`),
  leaseMs: z.int('must be a whole number').min(1, 'must be positive'),
  drain: z.literal(true).exactOptional(),
  exits: runnerExitsAnswerSchema.exactOptional(),
});
true satisfies SchemaImplements<typeof runnerPollAnswerSchema, RunnerPollAnswer>;
