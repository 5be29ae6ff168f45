import type { Logger, StorageProviderV1 } from '@cairn/core';
import { runnerPollLimits } from '@cairn/protocol';
import { z } from 'zod';

/** Settings of `createRunnerExecutor`, checked at construction; errors name `runner.executor.<option>`. */
export const runnerExecutorSettingsSchema = z
  .strictObject({
    /** A held lease not listed in a poll for this long lapses: its attempt is lost (ADR 0050). Also how long a new book waits for runners to re-adopt. */
    leaseMs: z.int('must be a whole number of milliseconds').min(1, 'must be positive').max(600_000, 'must be at most 600000 (10 minutes)').default(30_000),
    /** The longest a poll waits for work before it is answered empty; shorter than `leaseMs`, so that waiting polls keep leases. */
    pollWaitMs: z
      .int('must be a whole number of milliseconds')
      .min(0, 'must not be negative')
      .max(runnerPollLimits.waitMs, `must be at most ${runnerPollLimits.waitMs}`)
      .default(runnerPollLimits.waitMs),
    /**
     * The engine's storage: where a new book (after a server restart) reads the result records of
     * attempts that ended before it, and the manifests that show a handle was issued.
     */
    storage: z
      .custom<StorageProviderV1>(
        (value) => typeof value === 'object' && value !== null && (value as { specificationVersion?: unknown }).specificationVersion === 'v1',
        "must be a StorageProviderV1 (an object with specificationVersion 'v1')",
      )
      .optional(),
    /** The clock, in epoch milliseconds (tests inject one). */
    now: z.custom<() => number>((value) => typeof value === 'function', 'must be a function returning epoch milliseconds').optional(),
    logger: z.custom<Logger>((value) => typeof value === 'object' && value !== null, 'must be a logger (debug, info, warn, error)').optional(),
  })
  .refine((settings) => settings.pollWaitMs < settings.leaseMs, {
    message: 'must be shorter than leaseMs: a runner waiting in a poll must poll again before its leases lapse',
    path: ['pollWaitMs'],
  });

export type RunnerExecutorSettings = Omit<z.input<typeof runnerExecutorSettingsSchema>, 'storage' | 'now' | 'logger'> & {
  readonly storage?: StorageProviderV1;
  readonly now?: () => number;
  readonly logger?: Logger;
};
