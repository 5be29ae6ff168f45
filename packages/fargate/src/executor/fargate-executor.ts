import { ConflictException, RunTaskCommand, StopTaskCommand, type ECSClient, type RunTaskCommandInput, type Task } from '@aws-sdk/client-ecs';
import type {
  CipherV1,
  ExecutionHandle,
  ExecutionStatus,
  ExecutorV1,
  Logger,
  PublicKeyRecord,
  ResultRecord,
  StorageProviderV1,
  TaskEnvelope,
} from '@cairn/core';
import { kmsKeySettingsShape } from '@cairn/kms';
import { CairnError, isCairnError, parsePayload, parseSettings, publicKeyRecordSchema, resultKey, taskEnvelopeSchema, type RetryPolicy } from '@cairn/protocol';
import { s3EncryptionSchema, s3LocationSettingsShape } from '@cairn/s3';
import { z } from 'zod';
import { ecsClientFor, ecsClientSettingsShape } from '../client/ecs-connection.ts';
import { ecsErrorParts, ecsFailure } from '../client/ecs-errors.ts';
import { withEcsRetries } from '../client/ecs-retries.ts';
import { sealedSecretsKey, sealSecrets } from '../secrets/sealed-secrets.ts';
import { clientTokenOf } from './client-token.ts';
import { DescribeTasksBatcher, type DescribedTask } from './describe-tasks-batcher.ts';
import { taskEnvironmentNames, taskEnvironmentPairs, type TaskEnvironment } from './task-environment.ts';
import { recordStatus, stoppedTaskStatus, taskState } from './task-status.ts';

const seam = (name: string) =>
  z.custom<object>((value) => typeof value === 'object' && value !== null && (value as { specificationVersion?: unknown }).specificationVersion === 'v1', {
    message: `must be a ${name} (an object with specificationVersion 'v1')`,
  });

/** Settings of `createFargateExecutor`, checked at construction; errors name `fargate.<option>`. */
export const fargateExecutorSettingsSchema = z
  .strictObject({
    ...ecsClientSettingsShape,
    /** The ECS cluster tasks run in (name or ARN). */
    cluster: z.string().min(1, 'must name the ECS cluster (name or ARN)'),
    /** The worker's task definition: family, family:revision or ARN (pin a revision in production). */
    taskDefinition: z.string().min(1, 'must name the task definition (family, family:revision or ARN)'),
    /** The container that runs `cairn-worker` in the task definition; the environment override goes to it. */
    containerName: z.string().min(1).max(255).default('cairn-worker'),
    /** Subnets of the tasks' network interfaces (awsvpc): private ones, with a route to S3 and KMS. */
    subnets: z.array(z.string().min(1)).min(1, 'must name at least one subnet (subnet-…)').max(16, 'ECS accepts at most 16 subnets'),
    /** Security groups of the tasks' network interfaces; the VPC's default group when empty. */
    securityGroups: z.array(z.string().min(1)).max(5, 'ECS accepts at most 5 security groups').default([]),
    /** Give each task a public IP. Off: tasks reach S3 and KMS through a NAT gateway or VPC endpoints. */
    assignPublicIp: z.boolean().default(false),
    /** Capacity providers instead of launchType FARGATE (e.g. FARGATE_SPOT with a FARGATE base). */
    capacityProviderStrategy: z
      .array(
        z.strictObject({
          capacityProvider: z.string().min(1),
          weight: z.int().min(0).max(1_000).optional(),
          base: z.int().min(0).max(100_000).optional(),
        }),
      )
      .min(1)
      .max(20)
      .optional(),
    /** The Fargate platform version; ECS's LATEST when unset. */
    platformVersion: z.string().min(1).optional(),
    /** The engine's storage: sealed secrets are written there, result records read back. */
    storage: seam('StorageProviderV1'),
    /** Where the task finds that same storage: its S3 location, as the worker builds its storage from it. */
    taskStorage: z.strictObject({
      bucket: s3LocationSettingsShape.bucket,
      prefix: s3LocationSettingsShape.prefix,
      region: s3LocationSettingsShape.region,
      endpoint: s3LocationSettingsShape.endpoint,
      forcePathStyle: s3LocationSettingsShape.forcePathStyle,
      /** The engine storage's `encryption`, asked for on the task's writes too. */
      encryption: s3EncryptionSchema.optional(),
    }),
    /** Seals each task's secrets (a KMS cipher in AWS); needed only when items have secrets. */
    cipher: seam('CipherV1').optional(),
    /** The KMS key the task opens its secrets with (the cipher's key), which its task role may decrypt. */
    taskCipher: z.strictObject({ keyId: kmsKeySettingsShape.keyId, region: kmsKeySettingsShape.region, endpoint: kmsKeySettingsShape.endpoint }).optional(),
    /** Keys a dispatch manifest may be signed with (the engine signer's public key), handed to each task. */
    trustedKeys: z.array(publicKeyRecordSchema).min(1, "must hold the engine signer's public key"),
    logger: z.custom<Logger>((value) => typeof value === 'object' && value !== null, 'must be a logger (debug, info, warn, error)').optional(),
  })
  .refine((settings) => (settings.cipher === undefined) === (settings.taskCipher === undefined), {
    message: 'cipher and taskCipher are set together: the executor seals with the one, the task opens with the other',
    path: ['taskCipher'],
  });

export type FargateExecutorSettings = Omit<z.input<typeof fargateExecutorSettingsSchema>, 'storage' | 'cipher' | 'trustedKeys' | 'logger'> & {
  readonly storage: StorageProviderV1;
  readonly cipher?: CipherV1;
  readonly trustedKeys: readonly PublicKeyRecord[];
  readonly logger?: Logger;
};

const provider = 'fargate';
/** ECS keeps StopTask's reason up to 255 characters. */
const stopReasonLimit = 255;

/** A handle this executor issued: the task ARN and cluster find the task again from any process. */
interface FargateHandle {
  readonly executionId: string;
  readonly taskArn: string;
  readonly cluster: string;
}

/**
 * ExecutorV1 on AWS ECS Fargate: each attempt is one task of the worker's task definition, whose
 * container runs `cairn-worker`. `start` is RunTask with a client token derived from the execution
 * id (a retried start gets the same task); the override carries only where the manifest is (and the
 * model gateway, for an agent attempt), and the task's secrets and gateway credential are sealed into
 * storage with the cipher (ADR 0021, ADR 0033). `inspect` is DescribeTasks,
 * coalesced across concurrent calls; a STOPPED task's outcome is its worker's result record. The
 * handle is `{ executor, executionId, taskArn, cluster }`: plain JSON that survives restarts.
 */
export class FargateExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = provider;
  readonly capabilities = { cancel: true, pushesCompletions: false, isolation: 'container' } as const;
  readonly #settings: z.output<typeof fargateExecutorSettingsSchema>;
  readonly #storage: StorageProviderV1;
  readonly #cipher: CipherV1 | undefined;
  readonly #client: ECSClient;
  readonly #retries: RetryPolicy;
  readonly #batcher: DescribeTasksBatcher;

  constructor(settings: FargateExecutorSettings) {
    this.#settings = parseSettings(fargateExecutorSettingsSchema, settings, 'fargate');
    this.#storage = settings.storage;
    this.#cipher = settings.cipher;
    this.#client = ecsClientFor(this.#settings);
    this.#retries = {
      maxAttempts: this.#settings.maxAttempts,
      onRetry: ({ attempt, delayMs, error }) =>
        this.#settings.logger?.warn({ attempt, delayMs, error: ecsErrorParts(error).name ?? String(error) }, 'an ECS call failed; retrying'),
    };
    this.#batcher = new DescribeTasksBatcher(this.#client, this.#retries, (error, cluster) =>
      ecsFailure(error, 'DescribeTasks', `cluster ${cluster}`, 'CAIRN_EXECUTOR_UNAVAILABLE', 'fargate.cluster'),
    );
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    parsePayload(taskEnvelopeSchema, task, 'task envelope');
    const secrets = task.secrets ?? {};
    // An agent attempt's gateway credential is sealed with the secrets: never in the override (ADR 0033).
    const gateway = task.gateway;
    let sealed: string | undefined;
    if (Object.keys(secrets).length > 0 || gateway !== undefined) {
      if (!this.#cipher || !this.#settings.taskCipher) {
        const what = Object.keys(secrets).length > 0 ? 'has secrets' : 'is an agent attempt, whose model gateway credential is sealed for its task,';
        throw new CairnError(
          'CAIRN_EXECUTOR_START_FAILED',
          `[cairn] [fargate] execution ${task.executionId} ${what} and the executor has no cipher to seal with: set fargate.cipher and fargate.taskCipher (a KMS key the task role may decrypt).`,
          { path: 'fargate.cipher' },
        );
      }
      // Sealed again on a retried start (same content, fresh envelope): the task opens whichever is there.
      try {
        sealed = await sealSecrets(this.#storage, this.#cipher, {
          executionId: task.executionId,
          manifestDigest: task.manifestDigest,
          secrets,
          gatewayCredential: gateway?.credential,
        });
      } catch (error) {
        // KMS or storage down: the engine tries the start again later. A full disk passes as it is (the engine pauses).
        if (isCairnError(error, 'CAIRN_CIPHER_UNAVAILABLE') || isCairnError(error, 'CAIRN_STORAGE_UNAVAILABLE')) {
          throw new CairnError(
            'CAIRN_EXECUTOR_UNAVAILABLE',
            `[cairn] [fargate] the ${gateway ? 'secrets and gateway credential' : 'secrets'} of execution ${task.executionId} could not be sealed (${error.code}: ${error.message}); the start is tried again.`,
            { path: 'fargate.cipher', cause: error },
          );
        }
        throw error;
      }
    }
    const environment: TaskEnvironment = {
      executionId: task.executionId,
      manifestDigest: task.manifestDigest,
      storage: this.#settings.taskStorage,
      sealedSecrets: sealed,
      ...(sealed !== undefined ? { cipher: this.#settings.taskCipher } : {}),
      trustedKeys: this.#settings.trustedKeys,
      ...(gateway !== undefined ? { gatewayUrl: gateway.url } : {}),
      ...(task.traceContext !== undefined ? { traceContext: task.traceContext } : {}),
    };
    const request: RunTaskCommandInput = {
      cluster: this.#settings.cluster,
      taskDefinition: this.#settings.taskDefinition,
      count: 1,
      clientToken: clientTokenOf(task.executionId),
      startedBy: 'cairn',
      ...(this.#settings.capacityProviderStrategy ? { capacityProviderStrategy: this.#settings.capacityProviderStrategy } : { launchType: 'FARGATE' }),
      ...(this.#settings.platformVersion ? { platformVersion: this.#settings.platformVersion } : {}),
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: this.#settings.subnets,
          ...(this.#settings.securityGroups.length > 0 ? { securityGroups: this.#settings.securityGroups } : {}),
          assignPublicIp: this.#settings.assignPublicIp ? 'ENABLED' : 'DISABLED',
        },
      },
      overrides: { containerOverrides: [{ name: this.#settings.containerName, environment: taskEnvironmentPairs(environment) }] },
    };
    let taskArn: string;
    try {
      const response = await withEcsRetries(() => this.#client.send(new RunTaskCommand(request)), this.#retries);
      const started = response.tasks?.find((candidate) => typeof candidate.taskArn === 'string');
      if (!started) {
        const failures = (response.failures ?? []).map(
          (failure) => `${failure.reason ?? 'no reason'}${failure.detail ? ` (${failure.detail})` : ''}${failure.arn ? ` for ${failure.arn}` : ''}`,
        );
        throw new CairnError(
          'CAIRN_EXECUTOR_START_FAILED',
          `[cairn] [fargate] RunTask for execution ${task.executionId} started no task: ${failures.length > 0 ? failures.join('; ') : 'ECS answered no task and no failure'}. Fix: check the cluster's capacity providers, the subnets' free IP addresses and the ECS service quotas, then retry.`,
          { path: 'fargate.cluster', details: { failures } },
        );
      }
      taskArn = started.taskArn!;
    } catch (error) {
      if (isCairnError(error)) throw error;
      // The token was used by an earlier start with other parameters (settings changed across a
      // restart, a key rotated): that start's task is this execution's task.
      const existing =
        error instanceof ConflictException || ecsErrorParts(error).name === 'ConflictException' ? (error as ConflictException).resourceIds?.[0] : undefined;
      if (existing === undefined) throw ecsFailure(error, 'RunTask', `execution ${task.executionId}`, 'CAIRN_EXECUTOR_START_FAILED', 'fargate');
      this.#settings.logger?.info({ executionId: task.executionId, taskArn: existing }, 'RunTask answered ConflictException: the execution has a task already');
      taskArn = existing;
    }
    const cluster = clusterOf(taskArn, this.#settings.cluster);
    this.#batcher.track(cluster, taskArn);
    return { executor: provider, executionId: task.executionId, taskArn, cluster };
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const { executionId, taskArn } = this.#handleOf(handle);
    const described = await this.#describe(handle);
    if (!described.found || !isTaskOf(described.task, executionId)) {
      const why = described.found ? `task ${taskArn} belongs to another execution` : described.reason;
      const record = await this.#readRecord(executionId);
      if (record) return recordStatus(record);
      return { state: 'unknown', reason: `${why}, and execution ${executionId} left no result record` };
    }
    const state = taskState(described.task);
    if (state === 'pending') return { state: 'pending' };
    if (state !== 'stopped') return { state: 'running' };
    const record = await this.#readRecord(executionId);
    // The sealed secrets have no use any more; the worker deleted them unless it never ran.
    await this.#storage
      .delete(sealedSecretsKey(executionId))
      .catch((error: unknown) => this.#settings.logger?.warn({ executionId, error: String(error) }, 'could not delete the sealed secrets of a stopped task'));
    return record ? recordStatus(record) : stoppedTaskStatus(described.task, this.#settings.containerName);
  }

  async cancel(handle: ExecutionHandle): Promise<void> {
    const { executionId, taskArn, cluster } = this.#handleOf(handle);
    const described = await this.#describe(handle);
    // Only this execution's own task is stopped, and only while it runs: cancel is idempotent.
    if (!described.found || !isTaskOf(described.task, executionId) || taskState(described.task) === 'stopped') return;
    const reason = `Cancelled by Cairn: execution ${executionId}`.slice(0, stopReasonLimit);
    try {
      await withEcsRetries(() => this.#client.send(new StopTaskCommand({ cluster, task: taskArn, reason })), this.#retries);
      this.#batcher.invalidate(cluster, taskArn);
    } catch (error) {
      // Stopped or forgotten in between: nothing left to stop.
      if (ecsErrorParts(error).name === 'InvalidParameterException') return;
      throw ecsFailure(error, 'StopTask', `task ${taskArn}`, 'CAIRN_EXECUTOR_UNAVAILABLE', 'handle.taskArn');
    }
  }

  /** What ECS says of a handle's task (coalesced with the other lookups of this turn). */
  async #describe(handle: ExecutionHandle): Promise<DescribedTask> {
    const { taskArn, cluster } = this.#handleOf(handle);
    try {
      return await this.#batcher.describe(cluster, taskArn);
    } catch (error) {
      // A cluster that is gone took its tasks with it: they are answered as ECS answers a task it forgot.
      if (!(isCairnError(error) && ecsErrorParts(error.cause).name === 'ClusterNotFoundException')) throw error;
      return { found: false, reason: `ECS knows no cluster ${cluster}` };
    }
  }

  /**
   * The execution's result record, when its worker wrote one for this execution. Storage that
   * cannot be read makes the executor unavailable for now (the engine asks again), not the task lost.
   */
  async #readRecord(executionId: string): Promise<ResultRecord | undefined> {
    let bytes: Uint8Array | null;
    try {
      bytes = await this.#storage.get(resultKey(executionId));
    } catch (error) {
      throw new CairnError(
        'CAIRN_EXECUTOR_UNAVAILABLE',
        `[cairn] [fargate] the result record of execution ${executionId} could not be read: ${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}`,
        { path: 'fargate.storage', cause: error },
      );
    }
    if (bytes === null) return undefined;
    try {
      const record = JSON.parse(new TextDecoder().decode(bytes)) as ResultRecord;
      return record.executionId === executionId ? record : undefined;
    } catch {
      return undefined;
    }
  }

  #handleOf(handle: ExecutionHandle): FargateHandle {
    const fields = (typeof handle === 'object' && handle !== null ? handle : {}) as Partial<Record<string, unknown>>;
    const problem =
      fields['executor'] !== provider
        ? `it was not issued by the Fargate executor (executor: ${JSON.stringify(fields['executor'])})`
        : typeof fields['executionId'] !== 'string' || fields['executionId'].length === 0
          ? 'it has no executionId'
          : typeof fields['taskArn'] !== 'string' || !fields['taskArn'].startsWith('arn:')
            ? 'it has no taskArn'
            : typeof fields['cluster'] !== 'string' || fields['cluster'].length === 0
              ? 'it has no cluster'
              : undefined;
    if (problem !== undefined) {
      throw new CairnError('CAIRN_EXECUTOR_HANDLE_INVALID', `[cairn] [fargate] The handle is refused: ${problem}; pass the handle start() returned.`, {
        path: 'handle',
      });
    }
    return { executionId: fields['executionId'] as string, taskArn: fields['taskArn'] as string, cluster: fields['cluster'] as string };
  }
}

/** Whether a described task is the one started for `executionId` (its override names the execution). */
function isTaskOf(task: Task, executionId: string): boolean {
  return (task.overrides?.containerOverrides ?? []).some((override) =>
    (override.environment ?? []).some((pair) => pair.name === taskEnvironmentNames.executionId && pair.value === executionId),
  );
}

/** The cluster ARN a task ARN names (`arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`), else the configured cluster. */
function clusterOf(taskArn: string, configured: string): string {
  const match = /^arn:(aws[a-z-]*):ecs:([^:]+):(\d+):task\/([^/]+)\/[^/]+$/.exec(taskArn);
  return match ? `arn:${match[1]}:ecs:${match[2]}:${match[3]}:cluster/${match[4]}` : configured;
}

/** Builds a Fargate executor; throws CAIRN_CONFIG_INVALID naming every bad option. */
export function createFargateExecutor(settings: FargateExecutorSettings): FargateExecutor {
  return new FargateExecutor(settings);
}
