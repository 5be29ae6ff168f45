export { createKubernetesExecutor, KubernetesExecutor, kubernetesExecutorSettingsSchema } from './executor/kubernetes-executor.ts';
export type { KubernetesExecutorSettings } from './executor/kubernetes-executor.ts';
export { podTemplateSchema } from './executor/pod-template.ts';
export type { PodTemplate } from './executor/pod-template.ts';
export { attemptNetworkSchema } from './executor/attempt-network-policy.ts';
export type { AttemptNetwork } from './executor/attempt-network-policy.ts';
export type { TaskCredentials } from './executor/attempt-pod.ts';
export { executionDigestOf, ownerDigestOf, podNameOf } from './executor/execution-labels.ts';
export const VERSION = '0.1.0';
