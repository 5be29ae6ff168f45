import { tmpdir } from 'node:os';
import type { CipherV1, Logger, ResultRecord, StorageProviderV1, TaskGateway } from '@cairn/core';
import { createKmsCipher } from '@cairn/kms';
import { CairnError, isCairnError } from '@cairn/protocol';
import { createS3StorageProvider } from '@cairn/s3';
import { createClaudeCodeRuntime, createCommandRuntime, createWorker } from '@cairn/worker';
import { readTaskEnvironment } from '../executor/task-environment.ts';
import { openSealedTaskValues } from '../secrets/sealed-secrets.ts';
import { awaitClaimedAttempt, claimWaitEnvironmentNames } from './claimed-attempt-wait.ts';
import { separateRuntimeUser } from './runtime-user.ts';
import { workerExitCode, workerExitCodes } from './worker-exit-code.ts';

/** What `runTaskWorker` needs from its process: the environment, a stop signal, and (tests) seams to use instead of building them. */
export interface TaskWorkerOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted when the task is stopped (SIGTERM from ECS): the runtime is stopped and the attempt recorded as cancelled. */
  readonly signal?: AbortSignal;
  /** Where attempts get their folders: the system temporary folder (the container's /tmp) by default. */
  readonly workRoot?: string;
  readonly logger?: Logger;
  /** Built from the environment unless given. */
  readonly storage?: StorageProviderV1;
  readonly cipher?: CipherV1;
}

/** How a task ended: its exit code, the record when one was written, the error when none could be. */
export interface TaskWorkerOutcome {
  readonly exitCode: number;
  readonly record?: ResultRecord;
  readonly error?: CairnError;
}

/**
 * The body of `cairn-worker`, the Fargate task's entrypoint: reads the task environment the
 * executor set, builds S3 storage and (when the task has secrets or a gateway credential) the KMS
 * cipher from it, opens the sealed values and deletes them, and runs the same worker harness the
 * local executor runs. The container is the sandbox against the outside; inside it, a worker running
 * as root starts the runtime as another user, which cannot read the worker's process (its
 * environment, its memory): see separateRuntimeUser. A worker that is not root says once, in its
 * log, that its runtime runs as its own user, and goes on. An agent attempt's runtime reaches the model gateway through the harness's forwarder on the task's
 * loopback, which adds the credential: the runtime is never given it. Never throws: an error that
 * left no record is answered as an exit code and the error.
 */
export async function runTaskWorker(options: TaskWorkerOptions): Promise<TaskWorkerOutcome> {
  let environment;
  try {
    // A warm sandbox's worker (agent-sandbox) waits for its attempt to be claimed onto its pod.
    const env = options.env[claimWaitEnvironmentNames.annotationsFile] ? await awaitClaimedAttempt(options.env, { signal: options.signal }) : options.env;
    environment = readTaskEnvironment(env);
  } catch (error) {
    return { exitCode: workerExitCodes.environmentInvalid, error: asCairnError(error, 'CAIRN_CONFIG_INVALID') };
  }
  const storage =
    options.storage ??
    createS3StorageProvider({
      bucket: environment.storage.bucket,
      prefix: environment.storage.prefix,
      forcePathStyle: environment.storage.forcePathStyle,
      ...(environment.storage.region ? { region: environment.storage.region } : {}),
      ...(environment.storage.endpoint ? { endpoint: environment.storage.endpoint } : {}),
      ...(environment.storage.encryption ? { encryption: environment.storage.encryption } : {}),
    });
  let secrets: Record<string, string> | undefined;
  let gateway: TaskGateway | undefined;
  if (environment.sealedSecrets !== undefined) {
    try {
      const cipher =
        options.cipher ??
        createKmsCipher({
          keyId: environment.cipher!.keyId,
          ...(environment.cipher!.region ? { region: environment.cipher!.region } : {}),
          ...(environment.cipher!.endpoint ? { endpoint: environment.cipher!.endpoint } : {}),
        });
      const task = { executionId: environment.executionId, manifestDigest: environment.manifestDigest, key: environment.sealedSecrets };
      const opened = await openSealedTaskValues(storage, cipher, task);
      secrets = opened.secrets;
      // Opened: nobody needs them again (a retried attempt is a new execution with its own).
      await storage
        .delete(environment.sealedSecrets)
        .catch((error: unknown) =>
          options.logger?.warn(
            { executionId: environment.executionId, error: String(error) },
            'could not delete the sealed secrets; the executor deletes them when the task stops',
          ),
        );
      if (environment.gatewayUrl !== undefined) {
        if (opened.gatewayCredential === undefined) {
          throw new CairnError(
            'CAIRN_SECRET_UNAVAILABLE',
            `The task is given a model gateway (${environment.gatewayUrl}) but its sealed values at ${environment.sealedSecrets} hold no gateway credential: they were not sealed for this agent attempt.`,
            { path: 'CAIRN_SEALED_SECRETS' },
          );
        }
        gateway = { url: environment.gatewayUrl, credential: opened.gatewayCredential };
      }
    } catch (error) {
      return { exitCode: workerExitCodes.secretsUnavailable, error: asCairnError(error, 'CAIRN_SECRET_UNAVAILABLE') };
    }
  }
  const separation = separateRuntimeUser(process.getuid?.());
  if (!separation.separated) options.logger?.warn({ executionId: environment.executionId }, separation.reason);
  const launch = separation.separated ? { launch: separation.launch } : {};
  try {
    const worker = createWorker({
      storage,
      trustedKeys: environment.trustedKeys,
      runtimes: { command: createCommandRuntime(launch), 'claude-code': createClaudeCodeRuntime(launch) },
      workRoot: options.workRoot ?? tmpdir(),
      // The container is the sandbox: its runtime reaches the forwarder on the task's own loopback.
      gatewayLoopback: true,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const record = await worker.run(
      {
        executionId: environment.executionId,
        manifestDigest: environment.manifestDigest as `sha256:${string}`,
        ...(secrets ? { secrets } : {}),
        ...(gateway ? { gateway } : {}),
        ...(environment.traceContext ? { traceContext: environment.traceContext } : {}),
      },
      options.signal,
    );
    return { exitCode: workerExitCode(record), record };
  } catch (error) {
    return { exitCode: workerExitCodes.noRecord, error: asCairnError(error, 'CAIRN_STORAGE_UNAVAILABLE') };
  }
}

function asCairnError(error: unknown, code: 'CAIRN_CONFIG_INVALID' | 'CAIRN_SECRET_UNAVAILABLE' | 'CAIRN_STORAGE_UNAVAILABLE'): CairnError {
  return isCairnError(error) ? error : new CairnError(code, error instanceof Error ? error.message : String(error), { cause: error });
}
