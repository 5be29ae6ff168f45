// The resources the Kubernetes test endpoint serves, how it names them, and the shape of a stored object.
import type { StoredKind } from './object-validation.ts';

/** The resources served. */
export type KubernetesTestResource = 'pods' | 'secrets' | 'networkpolicies' | CustomTestResource;

/** The agent-sandbox resources the endpoint serves when their CustomResourceDefinitions are installed (`customResourceDefinitions`). */
export type CustomTestResource = 'sandboxes' | 'sandboxclaims' | 'sandboxwarmpools' | 'sandboxtemplates';

export type KubernetesObject = Record<string, unknown> & { metadata: ObjectMeta };

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  generation?: number;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** What each served resource is called in an object, a list and an API group. */
export const descriptors = {
  pods: { kind: 'Pod', apiVersion: 'v1', group: undefined, listKind: 'PodList' },
  secrets: { kind: 'Secret', apiVersion: 'v1', group: undefined, listKind: 'SecretList' },
  networkpolicies: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', group: 'networking.k8s.io', listKind: 'NetworkPolicyList' },
  // Served at v1beta1 (the version agent-sandbox stores) only when their CRDs are installed.
  sandboxclaims: { kind: 'SandboxClaim', apiVersion: 'extensions.agents.x-k8s.io/v1beta1', group: 'extensions.agents.x-k8s.io', listKind: 'SandboxClaimList' },
  sandboxwarmpools: {
    kind: 'SandboxWarmPool',
    apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
    group: 'extensions.agents.x-k8s.io',
    listKind: 'SandboxWarmPoolList',
  },
  sandboxtemplates: {
    kind: 'SandboxTemplate',
    apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
    group: 'extensions.agents.x-k8s.io',
    listKind: 'SandboxTemplateList',
  },
  sandboxes: { kind: 'Sandbox', apiVersion: 'agents.x-k8s.io/v1beta1', group: 'agents.x-k8s.io', listKind: 'SandboxList' },
} as const satisfies Record<
  KubernetesTestResource,
  {
    kind: StoredKind | 'Sandbox' | 'SandboxClaim' | 'SandboxWarmPool' | 'SandboxTemplate';
    apiVersion: string;
    group: string | undefined;
    listKind: string;
  }
>;

const customResources: readonly KubernetesTestResource[] = ['sandboxes', 'sandboxclaims', 'sandboxwarmpools', 'sandboxtemplates'];
export const isCustom = (resource: KubernetesTestResource): resource is CustomTestResource => customResources.includes(resource);

/** A timestamp as the API server writes one: whole seconds, UTC. */
export const now = () => new Date(Math.floor(Date.now() / 1_000) * 1_000).toISOString().replace('.000Z', 'Z');
export const clone = <T>(value: T): T => structuredClone(value);
