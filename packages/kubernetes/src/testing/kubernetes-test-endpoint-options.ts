// What a test chooses of the Kubernetes test endpoint: its images, namespace, token, delays and CRDs.
import type { KubernetesTestImage } from './container-process.ts';
import type { CustomResourceDefinitionDocument } from './structural-schema.ts';

/** Options of `KubernetesTestEndpoint.start`. */
export interface KubernetesTestEndpointOptions {
  /** Image references (as a pod spec names them) and the root filesystems they run from; any other image cannot be pulled. */
  readonly images: Readonly<Record<string, KubernetesTestImage>>;
  /** The one namespace served; `cairn` by default. Any other is refused 403, as a namespaced Role refuses it. */
  readonly namespace?: string;
  /** The bearer token requests must carry; a random one by default (`kubeConfig()` carries it). */
  readonly token?: string;
  /** How long the scheduler takes to bind a pod; 5 ms by default. */
  readonly schedulingDelayMs?: number;
  /** The first image-pull back-off (doubling, at most 5 minutes, as the kubelet's from 10 s); 200 ms by default. */
  readonly imagePullBackOffMs?: number;
  /** The first crash-loop back-off of a restarted container (doubling, at most 5 minutes); 10 s by default, as the kubelet's. */
  readonly restartBackOffMs?: number;
  /** How often the kubelet tries again a container whose secret is missing; 100 ms by default. */
  readonly configRetryMs?: number;
  /** How many events the watch history keeps (etcd's compaction); 1000 by default. */
  readonly watchHistoryLimit?: number;
  /** How often a watch that allows bookmarks gets one; 60 s by default, as the API server's. */
  readonly bookmarkIntervalMs?: number;
  /**
   * CustomResourceDefinitions installed in the cluster: agent-sandbox's `sandboxclaims` and
   * `sandboxwarmpools` (extensions.agents.x-k8s.io) are served at v1beta1 when given, and every
   * object sent is checked against the CRD's `openAPIV3Schema`; without them their routes are 404,
   * as on a cluster without agent-sandbox. The controllers are not run: a claim is stored, not adopted.
   */
  readonly customResourceDefinitions?: readonly CustomResourceDefinitionDocument[];
  /** How long the garbage collector takes to collect dependents of a deleted owner; 10 ms by default. */
  readonly garbageCollectionDelayMs?: number;
  /** The node's name (`spec.nodeName`); `cairn-test-node` by default. */
  readonly nodeName?: string;
  /** The bubblewrap binary; `/usr/bin/bwrap` by default. */
  readonly bwrap?: string;
  /** Where the v1 memory controller is mounted; `/sys/fs/cgroup/memory` by default. */
  readonly memoryCgroupRoot?: string;
}
