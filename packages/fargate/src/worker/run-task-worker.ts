import { tmpdir } from 'node:os';
import type { CipherV1, Logger, ResultRecord, StorageProviderV1 } from '@cairn/core';
import { createKmsCipher } from '@cairn/kms';
import { CairnError, isCairnError } from '@cairn/protocol';
import { createS3StorageProvider } from '@cairn/s3';
import { createClaudeCodeRuntime, createCommandRuntime, createWorker } from '@cairn/worker';
import { readTaskEnvironment } from '../executor/task-environment.ts';
import { openSealedSecrets } from '../secrets/sealed-secrets.ts';
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
 * executor set, builds S3 storage and (when the task has secrets) the KMS cipher from it, opens the
 * sealed secrets and deletes them, and runs the same worker harness the local executor runs. The
 * runtime runs as a plain child process: the container is the sandbox. Never throws: an error
 * that left no record is answered as an exit code and the error.
 */
export async function runTaskWorker(options: TaskWorkerOptions): Promise<TaskWorkerOutcome> {
  let environment;
  try {
    environment = readTaskEnvironment(options.env);
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
      secrets = await openSealedSecrets(storage, cipher, task);
      // Opened: nobody needs them again (a retried attempt is a new execution with its own).
      await storage
        .delete(environment.sealedSecrets)
        .catch((error: unknown) =>
          options.logger?.warn(
            { executionId: environment.executionId, error: String(error) },
            'could not delete the sealed secrets; the executor deletes them when the task stops',
          ),
        );
    } catch (error) {
      return { exitCode: workerExitCodes.secretsUnavailable, error: asCairnError(error, 'CAIRN_SECRET_UNAVAILABLE') };
    }
  }
  try {
    const worker = createWorker({
      storage,
      trustedKeys: environment.trustedKeys,
      runtimes: { command: createCommandRuntime(), 'claude-code': createClaudeCodeRuntime({}) },
      workRoot: options.workRoot ?? tmpdir(),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const record = await worker.run(
      { executionId: environment.executionId, manifestDigest: environment.manifestDigest as `sha256:${string}`, ...(secrets ? { secrets } : {}) },
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
