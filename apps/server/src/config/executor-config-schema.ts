import { z } from 'zod';
import { credentialOptions, noCredentials } from './aws-config-shapes.ts';
import { localByDefault } from './seam-config-schemas.ts';
import { localNetworkConfigSchema, networkPolicyConfigSchema } from './network-policy-config-schema.ts';

/** A Kubernetes object name of one DNS label (a namespace, a container). */
const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Where tasks run: on this machine, each in a bubblewrap sandbox (`local`, the default), or as AWS
 * ECS Fargate tasks of the worker's task definition (`fargate`; the container is the sandbox), or as
 * pods of the worker image in a Kubernetes namespace (`kubernetes`, ADR 0051). The fargate and
 * kubernetes options are `@cairn/fargate`'s and `@cairn/kubernetes`'s settings of the same names
 * (tests keep them equal); their storage, cipher and trusted key are the server's own (see
 * `fargateNeedsAwsSeams` and
 * `kubernetesNeedsS3AndKms`).
 */
export const executorConfigSchema = z.preprocess(
  localByDefault,
  z.discriminatedUnion(
    'kind',
    [
      z.strictObject({
        kind: z.literal('local'),
        /** `none` is for development only: tasks then run without any isolation. */
        sandbox: z.enum(['bubblewrap', 'none'], { error: "must be 'bubblewrap' or 'none' (development only)" }).default('bubblewrap'),
        workRoot: z.string().min(1).optional(),
        /**
         * Each sandbox's memory and each attempt's disk, in bytes: `@cairn/local`'s `limits` of the
         * same names and bounds (a test keeps them equal); unset, its defaults (4 GiB, 4 GiB, 1 GiB).
         * An item over one fails naming it (CAIRN_ATTEMPT_MEMORY_EXCEEDED, CAIRN_ATTEMPT_DISK_EXCEEDED).
         */
        limits: z
          .strictObject({
            memoryBytes: z.int().min(67_108_864).optional(),
            workspaceBytes: z.int().min(16_777_216).max(17_592_186_044_416).optional(),
            tmpBytes: z.int().min(1_048_576).max(1_099_511_627_776).optional(),
          })
          .optional(),
        /**
         * Snapshots extracted once on this machine and each attempt's workspace laid over its
         * snapshot (`@cairn/local`'s `snapshotCache`, same names and bounds: a test keeps them
         * equal); on by default, 10 GiB and a week unused at most, each snapshot looked over at most
         * every 10 s. `cairn doctor` says whether this
         * machine can (root, overlayfs, idmapped mounts); where it cannot, attempts extract their
         * snapshots, at a cost that grows with the workspace.
         */
        snapshotCache: z
          .strictObject({
            enabled: z.boolean().optional(),
            maxBytes: z.int().min(0).optional(),
            maxAgeHours: z.number().positive().optional(),
            checkEverySeconds: z.number().min(0).optional(),
          })
          .optional(),
        /** Bounds on the network allow-lists of run specs, and their egress proxies' settings (`localNetworkConfigSchema`). */
        network: localNetworkConfigSchema.optional(),
      }),
      z.strictObject({
        kind: z.literal('fargate'),
        /** The ECS cluster tasks run in (name or ARN). */
        cluster: z.string({ error: 'must name the ECS cluster (name or ARN), e.g. cairn' }).min(1, 'must name the ECS cluster (name or ARN), e.g. cairn'),
        /** The worker's task definition: family, family:revision or ARN (pin a revision in production). */
        taskDefinition: z
          .string({ error: 'must name the task definition (family, family:revision or ARN), e.g. cairn-worker:3' })
          .min(1, 'must name the task definition (family, family:revision or ARN), e.g. cairn-worker:3'),
        /** The container that runs `cairn-worker` in the task definition. */
        containerName: z.string().min(1).max(255).default('cairn-worker'),
        /** Subnets of the tasks' network interfaces: private ones, with a route to S3 and KMS. */
        subnets: z
          .array(z.string().min(1), { error: 'must list the subnets tasks run in, e.g. [subnet-0abc…]' })
          .min(1, 'must name at least one subnet (subnet-…)')
          .max(16, 'ECS accepts at most 16 subnets'),
        /** Security groups of the tasks' network interfaces; the VPC's default group when empty. */
        securityGroups: z.array(z.string().min(1)).max(5, 'ECS accepts at most 5 security groups').default([]),
        /** Give each task a public IP. Off: tasks reach S3 and KMS through a NAT gateway or VPC endpoints. */
        assignPublicIp: z.boolean({ error: 'must be true or false' }).default(false),
        /** Capacity providers instead of launch type FARGATE (e.g. FARGATE_SPOT with a FARGATE base). */
        capacityProviderStrategy: z
          .array(
            z.strictObject({
              capacityProvider: z.string().min(1, 'must name a capacity provider, e.g. FARGATE_SPOT'),
              weight: z.int().min(0).max(1_000).optional(),
              base: z.int().min(0).max(100_000).optional(),
            }),
          )
          .min(1)
          .max(20)
          .optional(),
        /** The Fargate platform version; ECS's LATEST when unset. */
        platformVersion: z.string().min(1).optional(),
        /** The cluster's region; unset: the SDK's chain (AWS_REGION, the shared config). */
        region: z.string().min(1, 'must name a region, e.g. eu-west-1').optional(),
        /** An ECS-compatible endpoint instead of AWS's (a VPC endpoint). */
        endpoint: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an ECS endpoint, e.g. https://ecs.eu-west-1.amazonaws.com' }).optional(),
        /** How long one ECS request may take before it is abandoned and retried (milliseconds). */
        requestTimeoutMs: z.int().min(100).max(600_000).default(10_000),
        /** Attempts per ECS call, the first included, on throttling, 5xx, connection resets and timeouts. */
        maxAttempts: z.int().min(1).max(20).default(5),
        /** Bounds on the network allow-lists of run specs (`networkPolicyConfigSchema`); the server's, not the tasks'. */
        network: networkPolicyConfigSchema.optional(),
        ...noCredentials,
      }),
      z.strictObject({
        kind: z.literal('kubernetes'),
        /** The one namespace attempt pods, their Secrets and NetworkPolicies are made in (a Role there is all the server needs). */
        namespace: z
          .string({ error: 'must name the namespace attempt pods run in, e.g. cairn' })
          .regex(dnsLabel, 'must be a namespace name (a DNS label: lowercase letters, digits and "-", at most 63 characters), e.g. cairn'),
        /** The `cairn-worker` image each pod runs (pin a digest in production). */
        image: z
          .string({ error: 'must name the cairn-worker image, e.g. registry.example.com/acme/cairn-worker:0.1.0 (or @sha256:…)' })
          .min(1, 'must name the cairn-worker image, e.g. registry.example.com/acme/cairn-worker:0.1.0 (or @sha256:…)'),
        /** The container's name in each pod. */
        containerName: z
          .string()
          .regex(dnsLabel, 'must be a container name (a DNS label: lowercase letters, digits and "-"), e.g. cairn-worker')
          .default('cairn-worker'),
        /**
         * A kubeconfig file (relative to the config file) naming the cluster and the server's
         * credentials for it; unset: the client's default (KUBECONFIG, ~/.kube/config, or the
         * server pod's in-cluster service account).
         */
        kubeconfigFile: z.string().min(1, 'must be the path of a kubeconfig file, e.g. kubeconfig.yaml').optional(),
        /**
         * The operator's part of every pod, passed through to `@cairn/kubernetes`'s `podTemplate`
         * and checked by it when the server starts (RuntimeClass, scheduling, resources, pull
         * secrets, annotations, service account, priority; privileged pods, host namespaces,
         * privilege escalation, added capabilities and an automounted token are refused).
         */
        podTemplate: z.record(z.string(), z.unknown(), { error: 'must be a mapping of pod template options, e.g. { runtimeClassName: gvisor }' }).default({}),
        /**
         * Where attempt pods may connect (`@cairn/kubernetes`'s `network`): each pod's default-deny
         * NetworkPolicy lets it reach these CIDR blocks and TCP ports (the S3 and KMS endpoints, the
         * server's gateway) and, with `dns`, the cluster's resolver; nothing else.
         */
        network: z.strictObject(
          {
            egress: z
              .array(
                z.strictObject({
                  cidr: z.string({ error: 'must be a CIDR block, e.g. 10.20.0.0/16' }).min(1, 'must be a CIDR block, e.g. 10.20.0.0/16'),
                  ports: z
                    .array(z.int().min(1).max(65_535), { error: 'must list TCP ports, e.g. [443]' })
                    .min(1, 'must list the ports (443 for S3 over HTTPS, the gateway port)'),
                }),
                { error: 'must list the CIDR blocks and ports attempt pods may reach, e.g. [{ cidr: 10.20.0.0/16, ports: [443] }]' },
              )
              .min(1, 'must list the CIDR blocks and ports of the storage and KMS endpoints (and of the gateway): an attempt pod reaches nothing else'),
            dns: z.boolean({ error: 'must be true or false' }).default(false),
          },
          {
            error:
              'must say where attempt pods may connect: network: { egress: [{ cidr: <storage, KMS and gateway addresses>, ports: [443] }], dns: true } (their NetworkPolicy denies everything else)',
          },
        ),
        /** How long a pod may stay Pending (unschedulable, its image not pulled) before its attempt fails and the pod is deleted. */
        pendingTimeoutSeconds: z.int().min(1).max(86_400).default(600),
        /**
         * Claim each attempt's sandbox from an agent-sandbox warm pool (`@cairn/kubernetes`'s
         * `sandboxPool`, ADR 0051): the operator's SandboxWarmPool, the SandboxTemplate it must use
         * (its container runs cairn-worker waiting for its attempt), and how long a claim may take.
         */
        sandboxPool: z
          .strictObject({
            warmPool: z.string({ error: 'must name a SandboxWarmPool in the namespace' }).min(1),
            template: z.string({ error: 'must name the SandboxTemplate the pool uses' }).min(1),
            claimTimeoutSeconds: z.int().min(1).max(3_600).default(300),
          })
          .optional(),
      }),
    ],
    {
      error:
        "must be 'local' (bubblewrap sandboxes on this machine), 'fargate' (AWS ECS Fargate tasks) or 'kubernetes' (a pod per attempt in a Kubernetes namespace)",
    },
  ),
);

/** The option names of a fargate executor (a test compares them with `@cairn/fargate`'s settings). */
export const fargateExecutorOptionNames = Object.keys(executorConfigSchema.out.options[1].shape).filter(
  (name) => name !== 'kind' && name !== 'network' && !(credentialOptions as readonly string[]).includes(name),
);

/** The option names of a kubernetes executor (a test compares them with `@cairn/kubernetes`'s settings; `kubeconfigFile` is read into `kubeConfig`). */
export const kubernetesExecutorOptionNames = Object.keys(executorConfigSchema.out.options[2].shape).filter((name) => name !== 'kind');
