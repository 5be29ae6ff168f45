import { isIP } from 'node:net';
import type { V1NetworkPolicy, V1NetworkPolicyEgressRule, V1OwnerReference } from '@kubernetes/client-node';
import { z } from 'zod';
import { executionLabels, managedByValue } from './execution-labels.ts';

const cidr = z.string().refine((text) => {
  const [address, prefix, ...rest] = text.split('/');
  const family = isIP(address ?? '');
  return rest.length === 0 && family !== 0 && /^\d{1,3}$/.test(prefix ?? '') && Number(prefix) <= (family === 4 ? 32 : 128);
}, 'must be a CIDR block (10.0.12.0/24, 192.0.2.10/32, 2001:db8::/64)');

/**
 * Where an attempt pod may connect (ADR 0051): its NetworkPolicy denies everything else, and every
 * ingress. The worker needs the storage endpoint (S3 and the KMS endpoint its secrets open with)
 * and, for an agent attempt, the server's model gateway.
 */
export const attemptNetworkSchema = z.strictObject({
  /** CIDR blocks and TCP ports the pod may reach: the storage and KMS endpoints, the server's gateway. */
  egress: z
    .array(z.strictObject({ cidr, ports: z.array(z.int().min(1).max(65_535)).min(1, 'must list the ports (443 for S3 over HTTPS)') }))
    .min(1, 'must list the CIDR blocks and ports of the storage endpoint (and of the model gateway): the pod reaches nothing else'),
  /** Also allow DNS to the cluster's resolver (kube-dns in kube-system, UDP and TCP 53): needed when the endpoints above are names. */
  dns: z.boolean().default(false),
});

export type AttemptNetwork = z.output<typeof attemptNetworkSchema>;

/**
 * The default-deny NetworkPolicy of one attempt pod, selecting it by its execution label and owned
 * by it (the garbage collector deletes it with the pod): no ingress; egress only to `network`'s
 * blocks and ports, DNS when asked, and, for an item whose manifest says `network: true`, the
 * internet without the link-local range (cloud metadata endpoints live there).
 */
export function attemptNetworkPolicy(options: {
  readonly name: string;
  readonly executionDigest: string;
  readonly owner: V1OwnerReference;
  readonly network: AttemptNetwork;
  readonly internet: boolean;
}): V1NetworkPolicy {
  const egress: V1NetworkPolicyEgressRule[] = options.network.egress.map((rule) => ({
    to: [{ ipBlock: { cidr: rule.cidr } }],
    ports: rule.ports.map((port) => ({ protocol: 'TCP', port })),
  }));
  if (options.network.dns) {
    egress.push({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
          podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
        },
      ],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    });
  }
  if (options.internet) {
    egress.push({ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16'] } }, { ipBlock: { cidr: '::/0', except: ['fe80::/10'] } }] });
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: options.name,
      labels: { [executionLabels.managedBy]: managedByValue, [executionLabels.execution]: options.executionDigest },
      ownerReferences: [options.owner],
    },
    spec: {
      podSelector: { matchLabels: { [executionLabels.execution]: options.executionDigest } },
      // Both types listed with no ingress rule: all ingress is denied, egress only as listed.
      policyTypes: ['Ingress', 'Egress'],
      ingress: [],
      egress,
    },
  };
}
