import type { ExecutionHandle } from '@cairn/core';
import { CairnError } from '@cairn/protocol';

/** The executor's name in its handles. */
export const kubernetesProvider = 'kubernetes';

/** A handle the Kubernetes executor issued: the namespace, pod name and uid find the pod again from any process. */
export interface KubernetesHandle {
  readonly executionId: string;
  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
  /** The SandboxClaim the pod was claimed through (the claim path): what is deleted once the attempt is over. */
  readonly claim?: string;
}

/**
 * Reads a handle back (it may have been stored as JSON and read by another process): refused with
 * CAIRN_EXECUTOR_HANDLE_INVALID when another executor issued it, a field is missing, or it names
 * another namespace than `namespace` (the option `namespaceOption`).
 */
export function kubernetesHandleOf(handle: ExecutionHandle, namespace: string, namespaceOption: string): KubernetesHandle {
  const fields = (typeof handle === 'object' && handle !== null ? handle : {}) as Partial<Record<string, unknown>>;
  const text = (key: string) => typeof fields[key] === 'string' && (fields[key] as string).length > 0;
  const problem =
    fields['executor'] !== kubernetesProvider
      ? `it was not issued by the Kubernetes executor (executor: ${JSON.stringify(fields['executor'])})`
      : !text('executionId')
        ? 'it has no executionId'
        : !text('namespace')
          ? 'it has no namespace'
          : fields['namespace'] !== namespace
            ? `it names namespace ${JSON.stringify(fields['namespace'])}, and this executor works in ${JSON.stringify(namespace)} (${namespaceOption})`
            : !text('pod')
              ? 'it has no pod'
              : !text('uid')
                ? 'it has no uid'
                : undefined;
  if (problem !== undefined) {
    throw new CairnError('CAIRN_EXECUTOR_HANDLE_INVALID', `[cairn] [kubernetes] The handle is refused: ${problem}; pass the handle start() returned.`, {
      path: 'handle',
    });
  }
  return {
    executionId: fields['executionId'] as string,
    namespace: fields['namespace'] as string,
    pod: fields['pod'] as string,
    uid: fields['uid'] as string,
    ...(fields['claim'] !== undefined ? { claim: fields['claim'] as string } : {}),
  };
}
