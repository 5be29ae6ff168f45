import { Aws, CfnCondition, CfnOutput, CfnParameter, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import {
  anchorPrefix,
  sealedSecretsPrefix,
  storagePrefix,
  storageProbeFolder,
  taskSecretsContextKey,
  taskSecretsContextValue,
  workerContainerName,
  workerDeletePrefixes,
  workerReadPrefixes,
  workerWritePrefixes,
} from './storage-layout.ts';

export type CairnStackProps = StackProps;

/**
 * Everything a Cairn server needs on AWS to run its items as ECS Fargate tasks: the storage
 * bucket, the Object Lock anchor bucket, the KMS signing and encryption keys, the ECS cluster, the
 * worker's task definition with its two roles, and the managed policy the server's own identity
 * gets. The server itself is not part of it: it runs wherever the team runs it.
 */
export class CairnStack extends Stack {
  constructor(scope: Construct, id: string, props: CairnStackProps = {}) {
    super(scope, id, props);

    const workerImage = new CfnParameter(this, 'WorkerImage', {
      type: 'String',
      description:
        'The cairn-worker image BY DIGEST: <registry>/<repository>@sha256:<64 hex> (a tag is refused: a task must run exactly the image that was built).',
      allowedPattern: '^[^\\s@:]+(:[0-9]+)?(/[^\\s@:]+)*@sha256:[a-f0-9]{64}$',
      constraintDescription: 'must be an image reference by digest, e.g. 111122223333.dkr.ecr.eu-west-1.amazonaws.com/cairn-worker@sha256:<64 hex digits>',
    });
    const workerRepositoryName = new CfnParameter(this, 'WorkerRepositoryName', {
      type: 'String',
      default: 'cairn-worker',
      description: 'The ECR repository in this account and region that holds the image: the task execution role may pull from it and no other.',
    });
    const subnets = new CfnParameter(this, 'WorkerSubnets', {
      type: 'List<AWS::EC2::Subnet::Id>',
      description:
        'Private subnets the worker tasks run in (they need a route to S3, KMS, ECR and CloudWatch Logs: a NAT gateway or VPC endpoints; public IPs stay off).',
    });
    const securityGroups = new CfnParameter(this, 'WorkerSecurityGroups', {
      type: 'List<AWS::EC2::SecurityGroup::Id>',
      description:
        "Security groups of the worker tasks (outbound HTTPS only is enough; they accept no inbound connection). The first is the tasks' own: with ServerSecurityGroup set, it alone is let in to the server's model gateway.",
    });
    const serverSecurityGroup = new CfnParameter(this, 'ServerSecurityGroup', {
      type: 'String',
      default: '',
      allowedPattern: '^(sg-[0-9a-f]{8,17})?$',
      constraintDescription: 'must be a security group id (sg-...) or empty',
      description:
        "The Cairn server's security group, when agent items run on Fargate through the server's model gateway: the tasks' own group (the first of WorkerSecurityGroups) is let in on GatewayPort, and nothing else. Empty: no rule is made.",
    });
    const gatewayPort = new CfnParameter(this, 'GatewayPort', {
      type: 'Number',
      default: 7411,
      minValue: 1,
      maxValue: 65535,
      description: "The port of the server's model gateway (gateway.port in its config); used only with ServerSecurityGroup.",
    });
    const retentionDays = new CfnParameter(this, 'AnchorRetentionDays', {
      type: 'Number',
      default: 365,
      minValue: 1,
      description: 'Days each checkpoint stays locked in COMPLIANCE mode: nobody, the account root included, can delete or shorten it before then.',
    });
    const workerCpu = new CfnParameter(this, 'WorkerCpu', {
      type: 'String',
      default: '1024',
      allowedValues: ['256', '512', '1024', '2048', '4096', '8192', '16384'],
      description: 'CPU units of one worker task (1024 = one vCPU).',
    });
    const workerMemory = new CfnParameter(this, 'WorkerMemoryMiB', {
      type: 'String',
      default: '2048',
      description: 'Memory of one worker task, in MiB (a value Fargate accepts with WorkerCpu).',
    });

    const signingKey = new kms.Key(this, 'SigningKey', {
      description: 'Cairn: signs checkpoints and dispatch manifests (ECDSA P-256). Only the server may sign.',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new kms.CfnAlias(this, 'SigningKeyAlias', { aliasName: `alias/${Aws.STACK_NAME}-checkpoints`, targetKeyId: signingKey.keyId });

    const encryptionKey = new kms.Key(this, 'EncryptionKey', {
      description: 'Cairn: envelope-encrypts secrets and encrypts the buckets (SSE-KMS).',
      keySpec: kms.KeySpec.SYMMETRIC_DEFAULT,
      keyUsage: kms.KeyUsage.ENCRYPT_DECRYPT,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new kms.CfnAlias(this, 'EncryptionKeyAlias', { aliasName: `alias/${Aws.STACK_NAME}-secrets`, targetKeyId: encryptionKey.keyId });

    // Unversioned on purpose: the storage relies on If-None-Match writes, and Cairn refuses any
    // store where a second conditional write adds a version instead (docs/operations/s3.md).
    const storageBucket = new s3.Bucket(this, 'StorageBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      // Sealed secrets are deleted by the task that opens them and by the executor when the task
      // stops; this catches a server that died in between (ADR 0021).
      lifecycleRules: [{ id: 'ExpireSealedTaskSecrets', prefix: `${storagePrefix}${sealedSecretsPrefix}`, expiration: Duration.days(1) }],
    });

    const anchorBucket = new s3.Bucket(this, 'AnchorBucket', {
      objectLockEnabled: true,
      versioned: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The default retention is set on the resource itself: the L2 helper validates a number and
    // cannot take a parameter. Every object written without its own retention is still locked.
    (anchorBucket.node.defaultChild as s3.CfnBucket).objectLockConfiguration = {
      objectLockEnabled: 'Enabled',
      rule: { defaultRetention: { mode: 'COMPLIANCE', days: retentionDays.valueAsNumber } },
    };
    // Every write is locked (the default retention above), so a second version under an anchored
    // checkpoint's key could never be removed, and that checkpoint would read as tampered for the
    // whole retention. S3 refuses a conditional create (If-None-Match: *) when the key has a
    // current version: refusing every other write keeps any identity, not only the server's, from
    // adding one (it also refuses multipart uploads and copies, which the anchor never makes).
    anchorBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyCreateNewCheckpoints',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [anchorBucket.arnForObjects('*')],
        conditions: { Null: { 's3:if-none-match': 'true' } },
      }),
    );
    // If-None-Match looks at the current version only: a delete marker (which Object Lock allows
    // over a locked version) would make an anchored checkpoint's key look free again.
    // s3:DeleteObject only ever adds a marker here; removing a version after its retention is
    // s3:DeleteObjectVersion, left to the account's administrators.
    anchorBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'NoDeleteMarkers',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:DeleteObject'],
        resources: [anchorBucket.arnForObjects('*')],
      }),
    );

    const cluster = new ecs.CfnCluster(this, 'Cluster', {
      clusterName: Aws.STACK_NAME,
      // FARGATE by default; FARGATE_SPOT for an executor configured with a capacity provider strategy.
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }],
      clusterSettings: [{ name: 'containerInsights', value: 'enabled' }],
    });

    const logGroup = new logs.LogGroup(this, 'WorkerLogs', {
      logGroupName: `/cairn/${Aws.STACK_NAME}/worker`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ECS's own role for starting the task: pull the image, write the logs. Nothing of Cairn's.
    const executionRole = new iam.Role(this, 'WorkerExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'ECS pulls the cairn-worker image and writes its logs with this role.',
    });
    executionRole.addToPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    executionRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        resources: [`arn:${Aws.PARTITION}:ecr:${Aws.REGION}:${Aws.ACCOUNT_ID}:repository/${workerRepositoryName.valueAsString}`],
      }),
    );

    // What the worker inside the task may do, and nothing more (each claim has a test).
    const taskRole = new iam.Role(this, 'WorkerTaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
      description: 'The cairn-worker inside a task: reads its manifest and inputs, writes its results; cannot sign, delete or touch the anchor.',
    });
    const storageObjects = (prefix: string) => `${storageBucket.bucketArn}/${storagePrefix}${prefix}*`;
    taskRole.addToPolicy(new iam.PolicyStatement({ sid: 'ReadInputs', actions: ['s3:GetObject'], resources: workerReadPrefixes.map(storageObjects) }));
    taskRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'WriteOutputs', actions: ['s3:PutObject'], resources: [...workerWritePrefixes, storageProbeFolder].map(storageObjects) }),
    );
    taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RemoveOpenedSecretsLogSegmentsAndProbe',
        actions: ['s3:DeleteObject'],
        resources: [...workerDeletePrefixes, storageProbeFolder].map(storageObjects),
      }),
    );
    // Without ListBucket, S3 answers a missing key with 403 instead of 404, and "no result yet"
    // could not be told from "forbidden".
    taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'MissingIsNotFound',
        actions: ['s3:ListBucket'],
        resources: [storageBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': `${storagePrefix}*` } },
      }),
    );
    taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'StorageEncryptionThroughS3',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [encryptionKey.keyArn],
        conditions: {
          StringEquals: {
            'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com`,
            'kms:EncryptionContext:aws:s3:arn': storageBucket.bucketArn,
          },
        },
      }),
    );
    taskRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OpenTaskSecrets',
        actions: ['kms:Decrypt'],
        resources: [encryptionKey.keyArn],
        conditions: { StringEquals: { [`kms:EncryptionContext:${taskSecretsContextKey}`]: taskSecretsContextValue } },
      }),
    );

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'WorkerTaskDefinition', {
      family: `${Aws.STACK_NAME}-worker`,
      cpu: 1024,
      memoryLimitMiB: 2048,
      executionRole,
      taskRole,
      runtimePlatform: { operatingSystemFamily: ecs.OperatingSystemFamily.LINUX, cpuArchitecture: ecs.CpuArchitecture.X86_64 },
      // A read-only root filesystem: the worker writes only to these two (task-local, deleted with the task).
      volumes: [{ name: 'workspace' }, { name: 'tmp' }],
    });
    const cfnTaskDefinition = taskDefinition.node.defaultChild as ecs.CfnTaskDefinition;
    cfnTaskDefinition.cpu = workerCpu.valueAsString;
    cfnTaskDefinition.memory = workerMemory.valueAsString;

    // The worker runs as root so that it can start the runtime (the agent) as the image's user 1000,
    // which then cannot read the worker's process: its environment holds the task role's credentials
    // endpoint, its memory the opened secrets (ADR 0043). It keeps only what that takes: changing
    // user (SETUID, SETGID), giving the workspace to the runtime and reading what it left (CHOWN,
    // DAC_OVERRIDE, FOWNER), stopping it (KILL). Fargate can add no capability but SYS_PTRACE, so the
    // rest of Docker's default set is dropped by name rather than with ALL.
    const linuxParameters = new ecs.LinuxParameters(this, 'WorkerLinuxParameters', { initProcessEnabled: true });
    linuxParameters.dropCapabilities(
      ecs.Capability.AUDIT_WRITE,
      ecs.Capability.FSETID,
      ecs.Capability.MKNOD,
      ecs.Capability.NET_BIND_SERVICE,
      ecs.Capability.NET_RAW,
      ecs.Capability.SETFCAP,
      ecs.Capability.SETPCAP,
      ecs.Capability.SYS_CHROOT,
    );
    const container = taskDefinition.addContainer('Worker', {
      containerName: workerContainerName,
      image: ecs.ContainerImage.fromRegistry(workerImage.valueAsString),
      readonlyRootFilesystem: true,
      user: '0:0',
      essential: true,
      linuxParameters,
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'task' }),
    });
    container.addMountPoints(
      { sourceVolume: 'workspace', containerPath: '/workspace', readOnly: false },
      { sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false },
    );

    // The model gateway (ADR 0033): agent tasks call the server on its gateway port, and only they.
    // Plain HTTP inside the VPC: the attempt credential it carries is short-lived and attempt-bound.
    const tasksReachTheGateway = new CfnCondition(this, 'TasksReachTheGateway', {
      expression: Fn.conditionNot(Fn.conditionEquals(serverSecurityGroup.valueAsString, '')),
    });
    const tasksGroup = Fn.select(0, securityGroups.valueAsList);
    const gatewayIngress = new ec2.CfnSecurityGroupIngress(this, 'GatewayFromWorkerTasks', {
      groupId: serverSecurityGroup.valueAsString,
      ipProtocol: 'tcp',
      fromPort: gatewayPort.valueAsNumber,
      toPort: gatewayPort.valueAsNumber,
      sourceSecurityGroupId: tasksGroup,
      description: "Cairn worker tasks call the server's model gateway",
    });
    gatewayIngress.cfnOptions.condition = tasksReachTheGateway;
    // The tasks' group may allow outbound HTTPS only: the gateway's port is let out too, to the server alone.
    const gatewayEgress = new ec2.CfnSecurityGroupEgress(this, 'WorkerTasksToGateway', {
      groupId: tasksGroup,
      ipProtocol: 'tcp',
      fromPort: gatewayPort.valueAsNumber,
      toPort: gatewayPort.valueAsNumber,
      destinationSecurityGroupId: serverSecurityGroup.valueAsString,
      description: "Cairn worker tasks call the server's model gateway",
    });
    gatewayEgress.cfnOptions.condition = tasksReachTheGateway;

    const clusterArn = cluster.attrArn;
    const serverPolicy = new iam.ManagedPolicy(this, 'ServerPolicy', {
      description: 'Attach to the identity the Cairn server runs as: start, watch and stop worker tasks; storage; anchor; sign; encrypt.',
      statements: [
        new iam.PolicyStatement({
          sid: 'RunWorkerTasks',
          actions: ['ecs:RunTask'],
          resources: [`arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:task-definition/${Aws.STACK_NAME}-worker:*`],
          conditions: { ArnEquals: { 'ecs:cluster': clusterArn } },
        }),
        new iam.PolicyStatement({
          sid: 'WatchAndStopWorkerTasks',
          actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
          resources: [`arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:task/${Aws.STACK_NAME}/*`],
          conditions: { ArnEquals: { 'ecs:cluster': clusterArn } },
        }),
        new iam.PolicyStatement({
          sid: 'PassWorkerRoles',
          actions: ['iam:PassRole'],
          resources: [taskRole.roleArn, executionRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
        new iam.PolicyStatement({
          sid: 'StorageList',
          actions: ['s3:ListBucket'],
          resources: [storageBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': `${storagePrefix}*` } },
        }),
        new iam.PolicyStatement({
          sid: 'StorageObjects',
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: [`${storageBucket.bucketArn}/${storagePrefix}*`],
        }),
        new iam.PolicyStatement({
          sid: 'StorageChecks',
          actions: ['s3:GetBucketVersioning', 's3:GetEncryptionConfiguration'],
          resources: [storageBucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'AnchorChecks',
          actions: ['s3:ListBucketVersions', 's3:GetBucketObjectLockConfiguration', 's3:GetBucketVersioning'],
          resources: [anchorBucket.bucketArn],
        }),
        // No delete and no s3:BypassGovernanceRetention: an anchored checkpoint is never removed.
        // s3:PutObjectRetention is for the lock the anchor writes with each checkpoint; S3 gives it no
        // version and no "created by" condition key, so it cannot be kept to this identity's own
        // versions (COMPLIANCE lets it only lengthen a lock: docs/operations/s3.md says so).
        new iam.PolicyStatement({
          sid: 'AnchorCheckpoints',
          actions: ['s3:PutObjectRetention', 's3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention'],
          resources: [`${anchorBucket.bucketArn}/${anchorPrefix}*`],
        }),
        // Only a conditional create (If-None-Match: *, which the anchor always sends): S3 refuses
        // it when the key has a current version, so this identity cannot add a version beside an
        // anchored checkpoint. It can still create the first version of a tree head not anchored yet.
        new iam.PolicyStatement({
          sid: 'AnchorNewCheckpointsOnly',
          actions: ['s3:PutObject'],
          resources: [`${anchorBucket.bucketArn}/${anchorPrefix}*`],
          conditions: { Null: { 's3:if-none-match': 'false' } },
        }),
        new iam.PolicyStatement({
          sid: 'Sign',
          actions: ['kms:Sign', 'kms:GetPublicKey', 'kms:DescribeKey'],
          resources: [signingKey.keyArn],
        }),
        new iam.PolicyStatement({
          sid: 'EncryptSecretsAndObjects',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt', 'kms:DescribeKey'],
          resources: [encryptionKey.keyArn],
        }),
      ],
    });

    const outputs: Record<string, { value: string; description: string }> = {
      StorageBucketName: { value: storageBucket.bucketName, description: `config storage.bucket (storage.prefix: ${storagePrefix})` },
      AnchorBucketName: { value: anchorBucket.bucketName, description: `config anchors[].bucket of the s3-object-lock anchor (prefix: ${anchorPrefix})` },
      SigningKeyArn: { value: signingKey.keyArn, description: 'config signer.keyId (kind: kms)' },
      EncryptionKeyArn: { value: encryptionKey.keyArn, description: 'config cipher.keyId (kind: kms) and storage.encryption.keyId (sse-kms)' },
      ClusterArn: { value: clusterArn, description: 'the ECS cluster the worker tasks run in' },
      WorkerTaskDefinitionArn: { value: taskDefinition.taskDefinitionArn, description: 'the worker task definition (this revision)' },
      WorkerContainerName: { value: workerContainerName, description: 'the container the executor overrides' },
      WorkerSubnetIds: { value: Fn.join(',', subnets.valueAsList), description: 'subnets to run tasks in (assignPublicIp: DISABLED)' },
      WorkerSecurityGroupIds: { value: Fn.join(',', securityGroups.valueAsList), description: 'security groups of the tasks' },
      WorkerLogGroupName: { value: logGroup.logGroupName, description: 'CloudWatch Logs group of the worker tasks' },
      ServerPolicyArn: { value: serverPolicy.managedPolicyArn, description: "attach to the server's role or user" },
    };
    for (const [name, output] of Object.entries(outputs)) new CfnOutput(this, name, output);
  }
}
