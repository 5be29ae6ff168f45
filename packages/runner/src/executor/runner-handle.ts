import type { Digest, ExecutionHandle } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { Lease } from './lease-records.ts';

/** The provider the runners executor stamps into its handles: `{ executor: 'runner', executionId, manifestDigest }`. */
export const runnerProvider = 'runner';

/** A lease's handle: plain JSON, enough for a new book (a server restart) to find it again. */
export function handleOf(lease: Lease): ExecutionHandle {
  return { executor: runnerProvider, executionId: lease.executionId, ...(lease.manifestDigest === undefined ? {} : { manifestDigest: lease.manifestDigest }) };
}

export function manifestOf(handle: ExecutionHandle): { manifestDigest?: Digest } {
  const digest = handle['manifestDigest'];
  return typeof digest === 'string' && digest.startsWith('sha256:') ? { manifestDigest: digest as Digest } : {};
}

export function executionIdOf(handle: unknown): string {
  const candidate = handle as Partial<Record<string, unknown>> | null;
  const problem =
    typeof candidate !== 'object' || candidate === null
      ? 'it is not an object'
      : candidate['executor'] !== runnerProvider
        ? `it was not issued by the runners executor (executor: ${JSON.stringify(candidate['executor'])})`
        : typeof candidate['executionId'] !== 'string' || candidate['executionId'].length === 0
          ? 'it has no executionId'
          : candidate['manifestDigest'] !== undefined && typeof candidate['manifestDigest'] !== 'string'
            ? 'its manifestDigest is not a string'
            : undefined;
  if (problem !== undefined) {
    throw new CairnError('CAIRN_EXECUTOR_HANDLE_INVALID', `[cairn] [runner] The handle is refused: ${problem}; pass the handle start() returned.`, {
      path: 'handle',
    });
  }
  return candidate!['executionId'] as string;
}
