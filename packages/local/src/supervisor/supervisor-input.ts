import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { createLocalStorageProvider } from '../storage/local-storage-provider.ts';
import type { ExecutionWorkerOptions } from '../executor/execution-worker.ts';

/**
 * How a supervisor process makes the storage its worker writes to — the same storage the server
 * has, opened anew, since an object cannot cross a process: a local directory by its root, or any
 * other by a module (path or file URL, resolved by whoever builds the executor) exporting a factory
 * that takes plain settings (`createS3StorageProvider` and its settings, say).
 */
export type TaskStorage =
  { readonly kind: 'local'; readonly root: string } | { readonly kind: 'module'; readonly module: string; readonly export: string; readonly settings: unknown };

/**
 * What the executor hands a supervisor on its stdin (never argv or environment: the task's secrets
 * are in it, and /proc/<pid>/cmdline and /environ are readable), as one JSON document.
 */
export interface SupervisorInput {
  readonly task: TaskEnvelope;
  readonly stateDirectory: string;
  /** The executor's work root: the supervisor's attempts get their folders in one of its own there. */
  readonly workRoot: string;
  readonly storage: TaskStorage;
  readonly worker: ExecutionWorkerOptions;
}

/** Opens the storage `description` names, in this process. */
export async function openTaskStorage(description: TaskStorage): Promise<StorageProviderV1> {
  if (description.kind === 'local') return createLocalStorageProvider({ root: description.root });
  let exported: unknown;
  try {
    // A path is the server's (absolute, or relative to the working directory the supervisor shares).
    const specifier = /^[./]/.test(description.module) ? pathToFileURL(resolve(description.module)).href : description.module;
    exported = ((await import(specifier)) as Record<string, unknown>)[description.export];
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `local.executor.taskStorage.module: cannot load ${description.module} (${(error as Error).message}); give a path or file URL the server can import.`,
      { path: 'local.executor.taskStorage.module', cause: error },
    );
  }
  if (typeof exported !== 'function')
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `local.executor.taskStorage.export: ${description.module} exports no function named ${description.export}; name the factory that builds the storage from its settings.`,
      { path: 'local.executor.taskStorage.export' },
    );
  return (await (exported as (settings: unknown) => StorageProviderV1 | Promise<StorageProviderV1>)(description.settings)) as StorageProviderV1;
}
