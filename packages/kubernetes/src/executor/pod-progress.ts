import type { ExecutionStatus } from '@cairn/core';

/** The fields of a pod this executor reads, as the watch sends them (JSON) or a read answers them (dates as Date). */
export interface ObservedPod {
  readonly metadata?: {
    readonly name?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly creationTimestamp?: string | Date;
    readonly deletionTimestamp?: string | Date;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly labels?: Readonly<Record<string, string>>;
    readonly ownerReferences?: readonly { readonly kind: string; readonly name: string; readonly uid: string }[];
  };
  readonly spec?: {
    readonly restartPolicy?: string;
    readonly containers?: readonly { readonly name: string; readonly resources?: { readonly limits?: Readonly<Record<string, unknown>> } }[];
  };
  readonly status?: {
    readonly phase?: string;
    readonly reason?: string;
    readonly message?: string;
    readonly conditions?: readonly { readonly type: string; readonly status: string; readonly reason?: string; readonly message?: string }[];
    readonly containerStatuses?: readonly ObservedContainerStatus[];
  };
}

interface ObservedContainerStatus {
  readonly name: string;
  readonly state?: {
    readonly waiting?: { readonly reason?: string; readonly message?: string };
    readonly running?: unknown;
    readonly terminated?: { readonly exitCode: number; readonly reason?: string; readonly message?: string; readonly signal?: number };
  };
}

/**
 * Where an attempt pod is, before its worker's result record is consulted: `pending` or `running`;
 * `ended` once its container terminated (with how, as Kubernetes says it; `named` when Kubernetes
 * ended it, not the worker's own exit); `stuck` when it will not
 * start by itself (an image that cannot be pulled, Pending past the pending timeout): the executor
 * then deletes it, so that it cannot start later, and ends the attempt with `status`.
 */
export type PodProgress =
  | { readonly kind: 'pending' }
  | { readonly kind: 'running' }
  | { readonly kind: 'ended'; readonly status: ExecutionStatus; readonly named: boolean }
  | { readonly kind: 'stuck'; readonly status: ExecutionStatus };

/** Waiting reasons of a container whose image will not come without someone fixing the image or the registry. */
const pullFailures = new Set(['ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

/**
 * How an attempt pod is doing, as a pure function of the pod, the time and the pending timeout, so
 * that each way a pod ends is a row of a table test. Named ends (ADR 0051) say what Kubernetes
 * said: OOMKilled (CAIRN_ATTEMPT_MEMORY_EXCEEDED), Evicted, DeadlineExceeded (timed out), an image
 * pull failure, Pending past the pending timeout (Unschedulable, or whatever holds it). A named end
 * carries no exit code: the reason is the account (an exit code of 137 would be read as the
 * runtime's own). The reasons name the executor's options under `settingsPath` (`${settingsPath}.image`,
 * or `config.executor.image` in a Cairn server).
 */
export function podProgress(pod: ObservedPod, containerName: string, nowMs: number, pendingTimeoutMs: number, settingsPath: string): PodProgress {
  const status = pod.status ?? {};
  const container = status.containerStatuses?.find((candidate) => candidate.name === containerName) ?? status.containerStatuses?.[0];
  const terminated = container?.state?.terminated;
  const phase = status.phase ?? 'Pending';
  // What Kubernetes said, without its closing period (the sentence around it has one).
  const said = (text: string | undefined) => (text !== undefined && text.length > 0 ? `: ${text.replace(/\.+$/, '')}` : '');
  if (status.reason === 'Evicted') {
    return ended(
      'failed',
      `Evicted: Kubernetes evicted the pod from its node${said(status.message)}. The attempt ran on a node under pressure; it may run again elsewhere.`,
    );
  }
  if (status.reason === 'DeadlineExceeded') {
    return ended(
      'timed-out',
      `DeadlineExceeded: the pod ran past its activeDeadlineSeconds (the item's timeout and a margin) and Kubernetes stopped it${said(status.message)}.`,
    );
  }
  if (terminated !== undefined && (phase === 'Succeeded' || phase === 'Failed' || pod.spec?.restartPolicy === 'Never')) {
    if (terminated.reason === 'OOMKilled') {
      const limit = pod.spec?.containers?.find((candidate) => candidate.name === containerName)?.resources?.limits?.['memory'];
      return ended(
        'failed',
        `CAIRN_ATTEMPT_MEMORY_EXCEEDED: the worker container reached its memory limit${limit === undefined ? '' : ` (${String(limit)})`} and the kernel killed it (Kubernetes: OOMKilled, exit code ${terminated.exitCode}). Raise ${settingsPath}.podTemplate.resources.limits.memory, or make the work use less memory.`,
      );
    }
    const exitCode = terminated.exitCode;
    return {
      kind: 'ended',
      named: false,
      status: {
        state: 'exited',
        outcome: exitCode === 0 ? 'succeeded' : 'failed',
        exitCode,
        ...(exitCode === 0
          ? {}
          : { reason: `the worker container exited with code ${exitCode} (Kubernetes: ${terminated.reason ?? 'Error'}${said(terminated.message)})` }),
      },
    };
  }
  if (phase === 'Failed' || phase === 'Succeeded') {
    // Ended without a container that ran (a pod rejected by the node, say).
    return ended('failed', `${status.reason ?? phase}: the pod ended ${phase} before its container ran${said(status.message)}.`);
  }
  const waiting = container?.state?.waiting;
  if (waiting?.reason !== undefined && pullFailures.has(waiting.reason)) {
    return stuck(
      `${waiting.reason}: the worker image could not be pulled${said(waiting.message)}. Check ${settingsPath}.image and ${settingsPath}.podTemplate.imagePullSecrets, and that the nodes reach the registry.`,
    );
  }
  if (phase === 'Running' && container?.state?.running !== undefined) return { kind: 'running' };
  if (phase === 'Running') return { kind: 'running' };
  const created = pod.metadata?.creationTimestamp === undefined ? nowMs : new Date(pod.metadata.creationTimestamp).getTime();
  if (nowMs - created >= pendingTimeoutMs) {
    const scheduled = status.conditions?.find((condition) => condition.type === 'PodScheduled');
    const seconds = Math.round(pendingTimeoutMs / 1_000);
    if (scheduled?.status === 'False') {
      return stuck(
        `${scheduled.reason ?? 'Unschedulable'}: the pod was not scheduled within ${seconds} s (${settingsPath}.pendingTimeoutSeconds)${said(scheduled.message)}. Make room in the cluster, or change ${settingsPath}.podTemplate (resources, nodeSelector, tolerations).`,
      );
    }
    return stuck(
      `${waiting?.reason ?? 'Pending'}: the pod did not start within ${seconds} s (${settingsPath}.pendingTimeoutSeconds)${said(waiting?.message ?? status.message)}.`,
    );
  }
  return { kind: 'pending' };
}

function ended(outcome: 'failed' | 'timed-out', reason: string): PodProgress {
  return { kind: 'ended', named: true, status: { state: 'exited', outcome, reason: unclosed(reason) } };
}

function stuck(reason: string): PodProgress {
  return { kind: 'stuck', status: { state: 'exited', outcome: 'failed', reason: unclosed(reason) } };
}

/**
 * A reason without its closing period: `ExecutionStatus.reason` is a short explanation that the
 * engine closes itself ("The task failed: <reason>. Read the executor's log…"), and a period of
 * its own would reach the user doubled.
 */
function unclosed(reason: string): string {
  return reason.replace(/\.+$/, '');
}
