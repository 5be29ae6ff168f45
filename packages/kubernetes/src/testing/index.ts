// Test support, published so integrators can test Kubernetes-backed code the way Cairn tests its
// own: a Kubernetes API endpoint on loopback (pods, secrets and network policies in one namespace)
// that validates what it is sent against the Kubernetes schemas and runs each pod's containers
// from a root filesystem under bubblewrap, with hooks for what one host cannot do for real.
export { KubernetesTestEndpoint } from './kubernetes-test-endpoint.ts';
export type { KubernetesRecordedRequest } from './kubernetes-test-endpoint.ts';
export type { KubernetesTestEndpointOptions } from './kubernetes-test-endpoint-options.ts';
export type { KubernetesTestResource } from './kubernetes-resources.ts';
export type { PodMatch } from './object-selection.ts';
export type { KubernetesTestImage } from './container-process.ts';
export type { CustomResourceDefinitionDocument, StructuralSchema } from './structural-schema.ts';
