import { claimedAttemptAnnotations } from '@cairn/fargate';
import type { TaskTraceContext } from '@cairn/core';
import { deadlineMarginSeconds } from './attempt-pod.ts';
import { executionLabels, labelValueOf, managedByValue } from './execution-labels.ts';

/**
 * Where agent-sandbox keeps claims (kubernetes-sigs/agent-sandbox, ADR 0051 step 3): the
 * `extensions.agents.x-k8s.io` group, served at v1alpha1 and v1beta1 and stored at v1beta1, which
 * is the one Cairn writes.
 */
export const sandboxClaimResource = { group: 'extensions.agents.x-k8s.io', version: 'v1beta1', plural: 'sandboxclaims', kind: 'SandboxClaim' } as const;

/** The annotation a claimed sandbox's worker reads its attempt's manifest digest from (beside `cairn.dev/execution-id`). */
export const manifestDigestAnnotation = claimedAttemptAnnotations.manifestDigest;

/** A `SandboxClaim` as Cairn writes it (v1beta1): only the fields it sets. */
export interface SandboxClaimObject {
  readonly apiVersion: `${typeof sandboxClaimResource.group}/${typeof sandboxClaimResource.version}`;
  readonly kind: typeof sandboxClaimResource.kind;
  readonly metadata: { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly annotations: Readonly<Record<string, string>> };
  readonly spec: {
    readonly warmPoolRef: { readonly name: string };
    readonly lifecycle: { readonly shutdownTime: string; readonly shutdownPolicy: 'Delete' };
    readonly additionalPodMetadata: { readonly labels: Readonly<Record<string, string>>; readonly annotations: Readonly<Record<string, string>> };
  };
}

/** What `attemptSandboxClaim` is made from. */
export interface AttemptSandboxClaimOptions {
  /** The claim's name: the attempt's pod name (`podNameOf`), so that a second start meets the first claim. */
  readonly name: string;
  readonly executionId: string;
  readonly executionDigest: string;
  readonly ownerDigest: string;
  readonly manifestDigest: string;
  readonly run: { readonly runId: string; readonly itemId: string; readonly attempt: number };
  /** The operator's `SandboxWarmPool` (in the executor's namespace) the claim checks a sandbox out of. */
  readonly warmPool: string;
  /** When the attempt was dispatched, and its timeout: the claim's shutdown time is past both, with the pod path's margin. */
  readonly dispatchedAtMs: number;
  readonly timeoutMs: number;
  /** The storage key of the attempt's sealed secrets and gateway credential, when it has any. */
  readonly sealedSecrets?: string | undefined;
  /** The model gateway's URL as the pod reaches it, for an agent attempt. */
  readonly gatewayUrl?: string | undefined;
  readonly traceContext?: TaskTraceContext | undefined;
}

/**
 * The claim of one attempt on a warm pool. A claimed sandbox's pod already runs from the
 * operator's template, so nothing in its spec can carry the attempt (a claim's `env` forces a cold
 * start): what reaches a running pod is metadata, which the controller merges from
 * `additionalPodMetadata` into the adopted sandbox's pod. The claim therefore carries the execution
 * id and the manifest digest as annotations (neither is secret; the worker fetches the signed
 * manifest and the sealed secrets from storage by them), and the labels the pod watch and the sweep
 * select by. `shutdownTime` bounds the sandbox as `activeDeadlineSeconds` bounds a pod, and
 * `Delete` takes the sandbox and its pod with the claim: one attempt per sandbox, never returned to
 * the pool.
 */
export function attemptSandboxClaim(options: AttemptSandboxClaimOptions): SandboxClaimObject {
  const selection = {
    [executionLabels.managedBy]: managedByValue,
    [executionLabels.execution]: options.executionDigest,
    [executionLabels.owner]: options.ownerDigest,
  };
  const labels = {
    ...selection,
    [executionLabels.run]: labelValueOf(options.run.runId),
    [executionLabels.item]: labelValueOf(options.run.itemId),
    [executionLabels.attempt]: String(options.run.attempt),
  };
  // What the pod path puts in the container's environment, as the worker's wait mode reads it back.
  const attempt: Record<string, string | undefined> = {
    [claimedAttemptAnnotations.sealedSecrets]: options.sealedSecrets,
    [claimedAttemptAnnotations.gatewayUrl]: options.gatewayUrl,
    [claimedAttemptAnnotations.traceparent]: options.traceContext?.traceparent,
    [claimedAttemptAnnotations.tracestate]: options.traceContext?.tracestate,
  };
  const annotations: Record<string, string> = {
    [executionLabels.executionId]: options.executionId,
    [manifestDigestAnnotation]: options.manifestDigest,
    ...Object.fromEntries(Object.entries(attempt).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')),
  };
  const shutdownMs = options.dispatchedAtMs + options.timeoutMs + deadlineMarginSeconds * 1_000;
  return {
    apiVersion: `${sandboxClaimResource.group}/${sandboxClaimResource.version}`,
    kind: sandboxClaimResource.kind,
    metadata: { name: options.name, labels, annotations },
    spec: {
      warmPoolRef: { name: options.warmPool },
      // metav1.Time: RFC 3339 in whole seconds, rounded up so the bound is never shorter.
      lifecycle: { shutdownTime: new Date(Math.ceil(shutdownMs / 1_000) * 1_000).toISOString().replace('.000Z', 'Z'), shutdownPolicy: 'Delete' },
      additionalPodMetadata: { labels, annotations },
    },
  };
}
