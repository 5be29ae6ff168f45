import type { Logger, PublicKeyRecord, StorageProviderV1 } from '@cairn/core';
import { localExecutorSettingsSchema } from '@cairn/local';
import { publicKeyRecordSchema, runnerLabelsSchema, runnerPollLimits } from '@cairn/protocol';
import { workerEgressSettingsSchema } from '@cairn/worker';
import { z } from 'zod';

// The sandbox pieces are the local executor's own schemas, so a runner's attempts get the same
// limits, snapshot cache, uids and bubblewrap as the server host's, with the same defaults.
const local = localExecutorSettingsSchema.shape;

/** Settings of `createRunner`, checked at construction; errors name `runner.<option>`. */
export const runnerSettingsSchema = z.strictObject({
  /** The server's address (`https://cairn.example.com`): the runner dials out to it, never the reverse. */
  server: z.url({ protocol: /^https?$/, error: 'must be the http(s) address of the Cairn server' }),
  /** A token whose only scope is `runners:run`; the runner's name is the token's. Never logged. */
  token: z.string().min(1, 'must not be empty'),
  /** The runner's labels: an item runs here only when every label of its `runsOn.labels` is one of these. */
  labels: runnerLabelsSchema.default([]),
  /** Attempts run at once. */
  slots: z.int('must be a whole number').min(1, 'must be at least 1').max(runnerPollLimits.slots, `must be at most ${runnerPollLimits.slots}`).default(2),
  /** Keys a dispatch manifest may be signed with: the server's signing key (`cairn key id` names it). */
  trustedKeys: z.array(publicKeyRecordSchema).min(1, "must hold the server's signing key"),
  /**
   * Where attempts get their working folders, in a folder of this process's own (`cairn-runner-<pid>`;
   * those of runners that are gone are removed at start); the system temporary folder by default.
   * It and its parents must be traversable by others (o+x): bubblewrap starts as the sandbox's uid.
   */
  workRoot: local.workRoot,
  /** Where the runner keeps exits it could not report yet, so a restarted runner still reports them. */
  stateDirectory: z.string().min(1, 'must not be empty'),
  keepWorkDirectory: local.keepWorkDirectory,
  limits: local.limits,
  snapshotCache: local.snapshotCache,
  uids: local.uids,
  bwrap: local.bwrap,
  /**
   * Whether the attempts' git, mount and umount programs are started by a small Perl fork server
   * (ForkServer) rather than forked from this process, which costs ~3 ms of CPU a program at a
   * runner's size. Off is for a host where it misbehaves: attempts then cost more, and run the same.
   */
  forkServer: z.boolean().default(true),
  /** What each allow-listed attempt's egress proxy is started with (the worker's `egress`). */
  egress: workerEgressSettingsSchema,
  /** How long a poll may wait on the server for work before it is answered empty. */
  pollWaitMs: z
    .int('must be a whole number of milliseconds')
    .min(0, 'must not be negative')
    .max(runnerPollLimits.waitMs, `must be at most ${runnerPollLimits.waitMs}`)
    .default(runnerPollLimits.waitMs),
  /** When the server cannot be reached (or answers 5xx): the first wait before trying again, doubled up to `maxMs`, jittered. */
  reconnect: z
    .strictObject({
      firstMs: z.int('must be a whole number of milliseconds').min(1, 'must be positive').default(1_000),
      maxMs: z.int('must be a whole number of milliseconds').min(1, 'must be positive').default(30_000),
    })
    .refine((reconnect) => reconnect.firstMs <= reconnect.maxMs, { message: 'must not be more than maxMs', path: ['firstMs'] })
    .prefault({}),
  /** `stop({ drain: true })` lets held attempts finish for this long, then stops them. */
  drainGraceMs: z.int('must be a whole number of milliseconds').min(0, 'must not be negative').default(60_000),
  /** The storage attempts read and write; the server's runner storage (`/v1/runner/storage`) by default. */
  storage: z
    .custom<StorageProviderV1>(
      (value) => typeof value === 'object' && value !== null && (value as { specificationVersion?: unknown }).specificationVersion === 'v1',
      "must be a StorageProviderV1 (an object with specificationVersion 'v1')",
    )
    .optional(),
  logger: z.custom<Logger>((value) => typeof value === 'object' && value !== null, 'must be a logger (debug, info, warn, error)').optional(),
});

export type RunnerSettings = Omit<z.input<typeof runnerSettingsSchema>, 'trustedKeys' | 'storage' | 'logger'> & {
  readonly trustedKeys: readonly PublicKeyRecord[];
  readonly storage?: StorageProviderV1;
  readonly logger?: Logger;
};
