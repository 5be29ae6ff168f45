import { z } from 'zod';
import { credentialOptions, noCredentials } from './aws-config-shapes.ts';
import { localByDefault } from './seam-config-schemas.ts';
import { localNetworkConfigSchema, networkPolicyConfigSchema } from './network-policy-config-schema.ts';

/**
 * Where tasks run: on this machine, each in a bubblewrap sandbox (`local`, the default), or as AWS
 * ECS Fargate tasks of the worker's task definition (`fargate`; the container is the sandbox). The
 * fargate options are `@cairn/fargate`'s settings of the same names (a test keeps them equal); its
 * storage, cipher and trusted key are the server's own (see `fargateNeedsAwsSeams`).
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
    ],
    { error: "must be 'local' (bubblewrap sandboxes on this machine) or 'fargate' (AWS ECS Fargate tasks)" },
  ),
);

/** The option names of a fargate executor (a test compares them with `@cairn/fargate`'s settings). */
export const fargateExecutorOptionNames = Object.keys(executorConfigSchema.out.options[1].shape).filter(
  (name) => name !== 'kind' && name !== 'network' && !(credentialOptions as readonly string[]).includes(name),
);
