import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Match, Template as CdkTemplate } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderTemplate, synthesizeCairnTemplate } from './synthesize-template.ts';
import {
  allowedActions,
  allowedResources,
  allowingStatements,
  logicalIdOf,
  managedPolicyStatements,
  render,
  roleStatements,
  type PolicyStatement,
  type Template,
} from './policy-evaluation.test-support.ts';

let template: Template;
let assertions: CdkTemplate;
let ids: {
  storage: string;
  anchor: string;
  signingKey: string;
  encryptionKey: string;
  taskRole: string;
  executionRole: string;
  serverPolicy: string;
  taskDefinition: string;
};
let storageArn: string;
let anchorArn: string;
let signingKeyArn: string;
let encryptionKeyArn: string;

beforeAll(() => {
  template = synthesizeCairnTemplate().template as Template;
  assertions = CdkTemplate.fromJSON(template);
  ids = {
    storage: logicalIdOf(template, 'AWS::S3::Bucket', 'StorageBucket'),
    anchor: logicalIdOf(template, 'AWS::S3::Bucket', 'AnchorBucket'),
    signingKey: logicalIdOf(template, 'AWS::KMS::Key', 'SigningKey'),
    encryptionKey: logicalIdOf(template, 'AWS::KMS::Key', 'EncryptionKey'),
    taskRole: logicalIdOf(template, 'AWS::IAM::Role', 'WorkerTaskRole'),
    executionRole: logicalIdOf(template, 'AWS::IAM::Role', 'WorkerExecutionRole'),
    serverPolicy: logicalIdOf(template, 'AWS::IAM::ManagedPolicy', 'ServerPolicy'),
    taskDefinition: logicalIdOf(template, 'AWS::ECS::TaskDefinition', 'WorkerTaskDefinition'),
  };
  storageArn = `{${ids.storage}.Arn}`;
  anchorArn = `{${ids.anchor}.Arn}`;
  signingKeyArn = `{${ids.signingKey}.Arn}`;
  encryptionKeyArn = `{${ids.encryptionKey}.Arn}`;
});

function resourceProperties(logicalId: string): Record<string, unknown> {
  return template.Resources[logicalId]!.Properties!;
}

describe('the committed template', () => {
  it('equals a fresh synthesis of the stack (run `pnpm --filter @cairn/deploy-aws synth` after changing it)', () => {
    const committed = readFileSync(fileURLToPath(new URL('../cairn.template.json', import.meta.url)), 'utf8');
    expect(committed).toBe(renderTemplate(template));
  });

  it('needs no CDK bootstrap, custom resource, Lambda or VPC of its own: plain CloudFormation in the team’s network', () => {
    expect(template.Parameters).not.toHaveProperty('BootstrapVersion');
    expect(template).not.toHaveProperty('Rules');
    const types = new Set(Object.values(template.Resources).map((resource) => resource.Type));
    for (const type of types) expect(type).toMatch(/^AWS::(S3|KMS|ECS|IAM|Logs)::|^AWS::EC2::SecurityGroup(Ingress|Egress)$/);
    // Of EC2, only the two rules on the team's own groups that let tasks call the model gateway.
    expect([...types].filter((type) => type.startsWith('AWS::EC2::')).sort()).toEqual(['AWS::EC2::SecurityGroupEgress', 'AWS::EC2::SecurityGroupIngress']);
    expect([...types].filter((type) => type.startsWith('AWS::Lambda::') || type.startsWith('Custom::'))).toEqual([]);
  });

  it('keeps the buckets, keys and logs when the stack is deleted (evidence and keys outlive a stack)', () => {
    for (const id of [ids.storage, ids.anchor, ids.signingKey, ids.encryptionKey, logicalIdOf(template, 'AWS::Logs::LogGroup', 'WorkerLogs')]) {
      expect(template.Resources[id]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    }
  });
});

describe('the anchor bucket', () => {
  it('has Object Lock on with a COMPLIANCE default retention of AnchorRetentionDays, and versioning', () => {
    assertions.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: { Ref: 'AnchorRetentionDays' } } } },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    const lock = resourceProperties(ids.anchor).ObjectLockConfiguration as { Rule: { DefaultRetention: { Mode: string } } };
    expect(lock.Rule.DefaultRetention.Mode).toBe('COMPLIANCE');
    expect(template.Parameters).toMatchObject({ AnchorRetentionDays: { Type: 'Number', MinValue: 1 } });
  });

  it('refuses, to every identity, a write that is not a conditional create (If-None-Match) and a delete marker: nobody adds a locked version beside a checkpoint', () => {
    const policies = Object.values(template.Resources).filter(
      (resource) => resource.Type === 'AWS::S3::BucketPolicy' && render(resource.Properties!.Bucket) === `{Ref:${ids.anchor}}`,
    );
    expect(policies).toHaveLength(1);
    const statements = (policies[0]!.Properties!.PolicyDocument as { Statement: PolicyStatement[] }).Statement;
    const denials = statements.filter((statement) => statement.Effect === 'Deny' && [statement.Action].flat().includes('s3:PutObject'));
    expect(denials).toEqual([
      expect.objectContaining({
        Principal: { AWS: '*' },
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.anchor, 'Arn'] }, '/*']] },
        Condition: { Null: { 's3:if-none-match': 'true' } },
      }),
    ]);
    // Nor a delete marker, which would make the key look free to If-None-Match (it checks the current version only).
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 's3:DeleteObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.anchor, 'Arn'] }, '/*']] },
      }),
    );
    expect(statements.find((statement) => statement.Action === 's3:DeleteObject')).not.toHaveProperty('Condition');
  });
});

describe('both buckets', () => {
  it('block every kind of public access, refuse ACLs, and are encrypted with the encryption key (SSE-KMS)', () => {
    for (const id of [ids.storage, ids.anchor]) {
      const properties = resourceProperties(id);
      expect(properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
      const encryption = properties.BucketEncryption as {
        ServerSideEncryptionConfiguration: { ServerSideEncryptionByDefault: { SSEAlgorithm: string; KMSMasterKeyID: unknown } }[];
      };
      expect(encryption.ServerSideEncryptionConfiguration).toHaveLength(1);
      expect(encryption.ServerSideEncryptionConfiguration[0]!.ServerSideEncryptionByDefault.SSEAlgorithm).toBe('aws:kms');
      expect(render(encryption.ServerSideEncryptionConfiguration[0]!.ServerSideEncryptionByDefault.KMSMasterKeyID)).toBe(encryptionKeyArn);
    }
  });

  it('deny every request that is not over TLS', () => {
    for (const id of [ids.storage, ids.anchor]) {
      const policies = Object.values(template.Resources).filter(
        (resource) => resource.Type === 'AWS::S3::BucketPolicy' && render(resource.Properties!.Bucket) === `{Ref:${id}}`,
      );
      expect(policies).toHaveLength(1);
      const statements = (policies[0]!.Properties!.PolicyDocument as { Statement: PolicyStatement[] }).Statement;
      expect(statements).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it('the storage bucket expires sealed task secrets a task never opened after one day (ADR 0021)', () => {
    expect(resourceProperties(ids.storage).LifecycleConfiguration).toEqual({
      Rules: [{ Id: 'ExpireSealedTaskSecrets', Prefix: 'cairn/task-secrets/', ExpirationInDays: 1, Status: 'Enabled' }],
    });
  });

  it('the storage bucket is NOT versioned: Cairn requires If-None-Match writes that never add a version', () => {
    expect(resourceProperties(ids.storage)).not.toHaveProperty('VersioningConfiguration');
    expect(resourceProperties(ids.storage)).not.toHaveProperty('ObjectLockEnabled');
  });
});

describe('the KMS keys', () => {
  it('the signing key is ECC_NIST_P256 for SIGN_VERIFY (what the KMS signer refuses to start without)', () => {
    expect(resourceProperties(ids.signingKey)).toMatchObject({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
    expect(resourceProperties(ids.signingKey)).not.toHaveProperty('EnableKeyRotation');
  });

  it('the encryption key is SYMMETRIC_DEFAULT for ENCRYPT_DECRYPT with automatic rotation on', () => {
    expect(resourceProperties(ids.encryptionKey)).toMatchObject({ EnableKeyRotation: true });
    // KeySpec and KeyUsage default to SYMMETRIC_DEFAULT and ENCRYPT_DECRYPT when absent.
    expect((resourceProperties(ids.encryptionKey).KeySpec as string | undefined) ?? 'SYMMETRIC_DEFAULT').toBe('SYMMETRIC_DEFAULT');
    expect((resourceProperties(ids.encryptionKey).KeyUsage as string | undefined) ?? 'ENCRYPT_DECRYPT').toBe('ENCRYPT_DECRYPT');
  });

  it('have aliases named after the stack', () => {
    assertions.hasResourceProperties('AWS::KMS::Alias', { AliasName: { 'Fn::Join': ['', ['alias/', { Ref: 'AWS::StackName' }, '-checkpoints']] } });
    assertions.hasResourceProperties('AWS::KMS::Alias', { AliasName: { 'Fn::Join': ['', ['alias/', { Ref: 'AWS::StackName' }, '-secrets']] } });
  });
});

describe('the ECS cluster', () => {
  it('runs tasks on Fargate (Spot when the executor asks for it), named after the stack, with Container Insights', () => {
    expect(template.Resources.Cluster).toMatchObject({
      Type: 'AWS::ECS::Cluster',
      Properties: {
        ClusterName: { Ref: 'AWS::StackName' },
        CapacityProviders: ['FARGATE', 'FARGATE_SPOT'],
        DefaultCapacityProviderStrategy: [{ CapacityProvider: 'FARGATE', Weight: 1 }],
        ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
      },
    });
  });
});

describe('the worker task definition', () => {
  function container(): Record<string, unknown> {
    const containers = resourceProperties(ids.taskDefinition).ContainerDefinitions as Record<string, unknown>[];
    expect(containers).toHaveLength(1);
    return containers[0]!;
  }

  it('runs the image given BY DIGEST, as root with only the capabilities that start the runtime as another user, on a read-only root filesystem', () => {
    expect(container()).toMatchObject({
      Name: 'cairn-worker',
      Image: { Ref: 'WorkerImage' },
      ReadonlyRootFilesystem: true,
      User: '0:0',
      Essential: true,
    });
    expect(container()).toMatchObject({ LinuxParameters: { InitProcessEnabled: true } });
    expect(container()).not.toHaveProperty('Privileged');
    // Fargate adds no capability but SYS_PTRACE: the worker's are what stays of Docker's default set.
    const capabilities = (container().LinuxParameters as { Capabilities: { Add?: string[]; Drop: string[] } }).Capabilities;
    expect(capabilities.Add ?? []).toEqual([]);
    const dockerDefaults = [
      'AUDIT_WRITE',
      'CHOWN',
      'DAC_OVERRIDE',
      'FOWNER',
      'FSETID',
      'KILL',
      'MKNOD',
      'NET_BIND_SERVICE',
      'NET_RAW',
      'SETFCAP',
      'SETGID',
      'SETPCAP',
      'SETUID',
      'SYS_CHROOT',
    ];
    expect(dockerDefaults.filter((name) => !capabilities.Drop.includes(name))).toEqual(['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'SETGID', 'SETUID']);
    // Dropped by name, each one a name of Docker's default set: none is a typo that would leave its capability in.
    expect(capabilities.Drop.filter((name) => !dockerDefaults.includes(name))).toEqual([]);
    assertions.hasResourceProperties('AWS::ECS::TaskDefinition', { RequiresCompatibilities: ['FARGATE'], NetworkMode: 'awsvpc' });
  });

  it('refuses an image reference that is not by digest (the WorkerImage parameter’s pattern)', () => {
    const parameter = (template.Parameters as Record<string, { AllowedPattern: string }>).WorkerImage!;
    const pattern = new RegExp(parameter.AllowedPattern);
    const digest = 'a'.repeat(64);
    for (const accepted of [
      `111122223333.dkr.ecr.eu-west-1.amazonaws.com/cairn-worker@sha256:${digest}`,
      `registry.example.com:5000/team/cairn-worker@sha256:${digest}`,
    ]) {
      expect(accepted).toMatch(pattern);
    }
    for (const refused of [
      '111122223333.dkr.ecr.eu-west-1.amazonaws.com/cairn-worker:latest',
      '111122223333.dkr.ecr.eu-west-1.amazonaws.com/cairn-worker',
      `cairn-worker:1.0@sha256:${digest}`,
      `cairn-worker@sha256:${'A'.repeat(64)}`,
      `cairn-worker@sha256:${digest.slice(1)}`,
    ]) {
      expect(refused).not.toMatch(pattern);
    }
  });

  it('writes only to /workspace and /tmp (task-local volumes) and logs to its CloudWatch group', () => {
    expect(container().MountPoints).toEqual([
      { ContainerPath: '/workspace', ReadOnly: false, SourceVolume: 'workspace' },
      { ContainerPath: '/tmp', ReadOnly: false, SourceVolume: 'tmp' },
    ]);
    expect(resourceProperties(ids.taskDefinition).Volumes).toEqual([{ Name: 'workspace' }, { Name: 'tmp' }]);
    expect(container()).toMatchObject({
      LogConfiguration: { LogDriver: 'awslogs', Options: { 'awslogs-group': { Ref: logicalIdOf(template, 'AWS::Logs::LogGroup', 'WorkerLogs') } } },
    });
  });

  it('carries no environment and no secrets: the executor passes only where the manifest is, secrets travel sealed in storage', () => {
    expect(container()).not.toHaveProperty('Environment');
    expect(container()).not.toHaveProperty('Secrets');
    expect(container()).not.toHaveProperty('EnvironmentFiles');
  });

  it('uses the two roles of this stack, and subnets and security groups come as parameters', () => {
    expect(render(resourceProperties(ids.taskDefinition).TaskRoleArn)).toBe(`{${ids.taskRole}.Arn}`);
    expect(render(resourceProperties(ids.taskDefinition).ExecutionRoleArn)).toBe(`{${ids.executionRole}.Arn}`);
    expect(template.Parameters).toMatchObject({
      WorkerSubnets: { Type: 'List<AWS::EC2::Subnet::Id>' },
      WorkerSecurityGroups: { Type: 'List<AWS::EC2::SecurityGroup::Id>' },
    });
    assertions.hasOutput('WorkerSubnetIds', { Description: Match.stringLikeRegexp('assignPublicIp: DISABLED') });
  });
});

describe("the server's model gateway port (ADR 0033)", () => {
  const rulesOf = (type: string) =>
    Object.values(template.Resources).filter((resource) => resource.Type === type) as (Template['Resources'][string] & { Condition?: string })[];
  const tasksGroup = { 'Fn::Select': [0, { Ref: 'WorkerSecurityGroups' }] };

  it("lets the tasks' own group (the first of WorkerSecurityGroups) in to the server's group on GatewayPort over TCP, and nothing else", () => {
    const ingress = rulesOf('AWS::EC2::SecurityGroupIngress');
    expect(ingress).toHaveLength(1);
    expect(ingress[0]!.Properties).toEqual({
      GroupId: { Ref: 'ServerSecurityGroup' },
      IpProtocol: 'tcp',
      FromPort: { Ref: 'GatewayPort' },
      ToPort: { Ref: 'GatewayPort' },
      SourceSecurityGroupId: tasksGroup,
      Description: expect.any(String),
    });
    // No address range, no prefix list: the group is the only way in.
    for (const open of ['CidrIp', 'CidrIpv6', 'SourcePrefixListId', 'SourceSecurityGroupOwnerId']) expect(ingress[0]!.Properties).not.toHaveProperty(open);
  });

  it("lets the tasks' group out to the server's group on that port alone (its other egress is the team's: HTTPS)", () => {
    const egress = rulesOf('AWS::EC2::SecurityGroupEgress');
    expect(egress).toHaveLength(1);
    expect(egress[0]!.Properties).toEqual({
      GroupId: tasksGroup,
      IpProtocol: 'tcp',
      FromPort: { Ref: 'GatewayPort' },
      ToPort: { Ref: 'GatewayPort' },
      DestinationSecurityGroupId: { Ref: 'ServerSecurityGroup' },
      Description: expect.any(String),
    });
  });

  it('makes both rules only when ServerSecurityGroup is given; GatewayPort is 7411 unless set', () => {
    for (const rule of [...rulesOf('AWS::EC2::SecurityGroupIngress'), ...rulesOf('AWS::EC2::SecurityGroupEgress')])
      expect(rule.Condition).toBe('TasksReachTheGateway');
    expect(template['Conditions']).toEqual({ TasksReachTheGateway: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'ServerSecurityGroup' }, ''] }] } });
    const parameters = template.Parameters as Record<
      string,
      { Type: string; Default?: unknown; AllowedPattern?: string; MinValue?: number; MaxValue?: number }
    >;
    expect(parameters['GatewayPort']).toMatchObject({ Type: 'Number', Default: 7411, MinValue: 1, MaxValue: 65535 });
    expect(parameters['ServerSecurityGroup']).toMatchObject({ Type: 'String', Default: '' });
    const pattern = new RegExp(parameters['ServerSecurityGroup']!.AllowedPattern!);
    for (const accepted of ['', 'sg-0123abcd', 'sg-0123456789abcdef0']) expect(accepted).toMatch(pattern);
    for (const refused of ['sg-', 'sg-XYZ12345', '0.0.0.0/0', 'sg-0123abcd,sg-0456efab']) expect(refused).not.toMatch(pattern);
  });
});

describe('the worker task role (least privilege)', () => {
  let statements: PolicyStatement[];
  beforeAll(() => {
    statements = roleStatements(template, ids.taskRole);
  });

  it('may only be assumed by ECS tasks of this account', () => {
    const trust = resourceProperties(ids.taskRole).AssumeRolePolicyDocument as { Statement: PolicyStatement[] & { Principal: unknown }[] };
    expect(trust.Statement).toHaveLength(1);
    expect(trust.Statement[0]).toMatchObject({
      Principal: { Service: 'ecs-tasks.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
    });
  });

  it('can never sign: no kms:Sign, no key of the signing key at all', () => {
    for (const action of ['kms:Sign', 'kms:GetPublicKey', 'kms:Verify', 'kms:CreateGrant', 'kms:ScheduleKeyDeletion']) {
      expect(allowedActions(statements).filter((pattern) => new RegExp(`^${pattern.replace(/\*/g, '.*')}$`, 'i').test(action))).toEqual([]);
    }
    expect(allowedResources(statements).filter((resource) => resource.includes(ids.signingKey))).toEqual([]);
  });

  it('cannot touch the anchor bucket: no read, no write, no delete of a checkpoint', () => {
    expect(allowedResources(statements).filter((resource) => resource.includes(ids.anchor))).toEqual([]);
    for (const action of [
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:PutObject',
      's3:PutObjectRetention',
      's3:BypassGovernanceRetention',
      's3:GetObject',
    ]) {
      expect(allowingStatements(statements, action, `${anchorArn}/checkpoints/0001.json`)).toEqual([]);
    }
  });

  it('reads its manifest and the delegation statement of its signer, the blobs, its sealed secrets and result records; writes blobs, its result and live log; nothing else', () => {
    // A server on a KMS key signs manifests with a delegated key (ADR 0020): the worker reads its statement.
    const delegation = `delegations/${'ab'.repeat(32)}.json`;
    for (const key of ['manifests/ab12.json', delegation, 'blobs/ab12', 'results/exec-1.json', 'task-secrets/exec-1.json']) {
      expect(allowingStatements(statements, 's3:GetObject', `${storageArn}/cairn/${key}`), key).toHaveLength(1);
    }
    for (const key of ['blobs/ab12', 'results/exec-1.json', 'live-logs/exec-1/stdout/000000']) {
      expect(allowingStatements(statements, 's3:PutObject', `${storageArn}/cairn/${key}`), key).toHaveLength(1);
    }
    // A worker must not forge a signed manifest, a run's records or another task's sealed secrets, or read the server's secrets.
    for (const key of ['manifests/ab12.json', delegation, 'runs/run-1.json', 'secrets/GITHUB_TOKEN', 'task-secrets/exec-2.json']) {
      expect(allowingStatements(statements, 's3:PutObject', `${storageArn}/cairn/${key}`), key).toEqual([]);
    }
    expect(allowingStatements(statements, 's3:GetObject', `${storageArn}/cairn/secrets/GITHUB_TOKEN`)).toEqual([]);
    expect(allowingStatements(statements, 's3:GetObject', `${storageArn}/elsewhere/x`)).toEqual([]);
  });

  it('deletes only its opened sealed secrets, its live log segments and the storage probe’s own object', () => {
    for (const key of ['blobs/ab12', 'results/exec-1.json', 'manifests/ab12.json', 'runs/run-1.json']) {
      expect(allowingStatements(statements, 's3:DeleteObject', `${storageArn}/cairn/${key}`), key).toEqual([]);
    }
    for (const key of ['task-secrets/exec-1.json', 'live-logs/exec-1/stdout/000000', '.cairn\\probe/5f0c']) {
      expect(allowingStatements(statements, 's3:DeleteObject', `${storageArn}/cairn/${key}`), key).toHaveLength(1);
    }
    expect(allowedActions(statements).filter((action) => action.includes('*'))).toEqual([]);
    expect(allowedResources(statements)).not.toContain('*');
  });

  it('uses the encryption key only through S3 on the storage bucket, or to open secrets sealed for a task', () => {
    const keyStatements = statements.filter((statement) => [statement.Action].flat().some((action) => action.startsWith('kms:')));
    expect(keyStatements.length).toBeGreaterThan(0);
    for (const statement of keyStatements) {
      expect([statement.Resource].flat().map(render)).toEqual([encryptionKeyArn]);
      expect(statement.Condition, statement.Sid).toBeDefined();
    }
    const throughS3 = allowingStatements(statements, 'kms:GenerateDataKey', encryptionKeyArn);
    expect(throughS3).toHaveLength(1);
    expect(throughS3[0]!.Condition!.StringEquals).toMatchObject({ 'kms:EncryptionContext:aws:s3:arn': { 'Fn::GetAtt': [ids.storage, 'Arn'] } });
    expect(render((throughS3[0]!.Condition!.StringEquals as Record<string, unknown>)['kms:ViaService'])).toBe('s3.{Ref:AWS::Region}.amazonaws.com');
    // Direct Decrypt (not through S3) only under the task-secrets context: never a stored secret's { secret, version }.
    const direct = allowingStatements(statements, 'kms:Decrypt', encryptionKeyArn).filter(
      (statement) => !JSON.stringify(statement.Condition).includes('kms:ViaService'),
    );
    expect(direct).toHaveLength(1);
    expect(direct[0]!.Condition).toEqual({ StringEquals: { 'kms:EncryptionContext:purpose': 'cairn.task-secrets' } });
    expect(allowingStatements(statements, 'kms:Encrypt', encryptionKeyArn)).toEqual([]);
  });

  it('has no ECS, IAM or logs permission', () => {
    expect(allowedActions(statements).filter((action) => /^(ecs|iam|logs|sts|ecr):/.test(action))).toEqual([]);
  });
});

describe('the task execution role', () => {
  it('pulls only from the worker repository and writes only the worker log group: nothing of Cairn’s data', () => {
    const statements = roleStatements(template, ids.executionRole);
    expect(allowedActions(statements).sort()).toEqual([
      'ecr:BatchGetImage',
      'ecr:GetAuthorizationToken',
      'ecr:GetDownloadUrlForLayer',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    expect(
      allowingStatements(
        statements,
        'ecr:BatchGetImage',
        'arn:{Ref:AWS::Partition}:ecr:{Ref:AWS::Region}:{Ref:AWS::AccountId}:repository/{Ref:WorkerRepositoryName}',
      ),
    ).toHaveLength(1);
    expect(allowingStatements(statements, 'ecr:BatchGetImage', 'arn:aws:ecr:eu-west-1:111122223333:repository/other')).toEqual([]);
  });
});

describe('the server policy', () => {
  let statements: PolicyStatement[];
  const taskArn = 'arn:{Ref:AWS::Partition}:ecs:{Ref:AWS::Region}:{Ref:AWS::AccountId}:task/{Ref:AWS::StackName}/0123456789abcdef';
  beforeAll(() => {
    statements = managedPolicyStatements(template, ids.serverPolicy);
  });

  it('starts only the worker task definition, and only in this cluster', () => {
    const run = allowingStatements(
      statements,
      'ecs:RunTask',
      'arn:{Ref:AWS::Partition}:ecs:{Ref:AWS::Region}:{Ref:AWS::AccountId}:task-definition/{Ref:AWS::StackName}-worker:7',
    );
    expect(run).toHaveLength(1);
    expect(run[0]!.Condition).toEqual({ ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': ['Cluster', 'Arn'] } } });
    expect(allowingStatements(statements, 'ecs:RunTask', 'arn:aws:ecs:eu-west-1:111122223333:task-definition/other:1')).toEqual([]);
  });

  it('describes and stops tasks of this cluster only', () => {
    for (const action of ['ecs:DescribeTasks', 'ecs:StopTask']) {
      const allowing = allowingStatements(statements, action, taskArn);
      expect(allowing, action).toHaveLength(1);
      expect(allowing[0]!.Condition).toEqual({ ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': ['Cluster', 'Arn'] } } });
    }
    expect(
      allowedActions(statements)
        .filter((action) => action.startsWith('ecs:'))
        .sort(),
    ).toEqual(['ecs:DescribeTasks', 'ecs:RunTask', 'ecs:StopTask']);
  });

  it('passes exactly the worker task and execution roles, and only to ECS tasks', () => {
    const pass = statements.filter((statement) => [statement.Action].flat().includes('iam:PassRole'));
    expect(pass).toHaveLength(1);
    expect([pass[0]!.Resource].flat().map(render).sort()).toEqual([`{${ids.executionRole}.Arn}`, `{${ids.taskRole}.Arn}`].sort());
    expect(pass[0]!.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  it('signs with the signing key and encrypts with the encryption key, never crossed', () => {
    expect(allowingStatements(statements, 'kms:Sign', signingKeyArn)).toHaveLength(1);
    expect(allowingStatements(statements, 'kms:GetPublicKey', signingKeyArn)).toHaveLength(1);
    expect(allowingStatements(statements, 'kms:Sign', encryptionKeyArn)).toEqual([]);
    expect(allowingStatements(statements, 'kms:GenerateDataKey', encryptionKeyArn)).toHaveLength(1);
    expect(allowingStatements(statements, 'kms:Decrypt', encryptionKeyArn)).toHaveLength(1);
    expect(allowingStatements(statements, 'kms:Decrypt', signingKeyArn)).toEqual([]);
    for (const action of ['kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:PutKeyPolicy', 'kms:CreateGrant']) {
      expect(allowingStatements(statements, action, signingKeyArn), action).toEqual([]);
      expect(allowingStatements(statements, action, encryptionKeyArn), action).toEqual([]);
    }
  });

  it('anchors checkpoints but can never delete one or bypass its retention', () => {
    const checkpoint = `${anchorArn}/checkpoints/0001.json`;
    for (const action of ['s3:PutObject', 's3:PutObjectRetention', 's3:GetObjectVersion', 's3:GetObjectRetention']) {
      expect(allowingStatements(statements, action, checkpoint), action).toHaveLength(1);
    }
    for (const action of [
      's3:DeleteObject',
      's3:DeleteObjectVersion',
      's3:BypassGovernanceRetention',
      's3:PutObjectLegalHold',
      's3:PutBucketObjectLockConfiguration',
      's3:PutBucketPolicy',
    ]) {
      expect(allowingStatements(statements, action, checkpoint), action).toEqual([]);
      expect(allowingStatements(statements, action, anchorArn), action).toEqual([]);
    }
    expect(allowingStatements(statements, 's3:PutObject', `${anchorArn}/elsewhere/x`)).toEqual([]);
  });

  it('writes a checkpoint only as a conditional create (If-None-Match), so it cannot add a version beside an anchored one', () => {
    const checkpoint = `${anchorArn}/checkpoints/0001.json`;
    const puts = allowingStatements(statements, 's3:PutObject', checkpoint);
    expect(puts).toHaveLength(1);
    // The form AWS documents for "only with an If-None-Match header" (the anchor always sends `*`).
    expect(puts[0]!.Condition).toEqual({ Null: { 's3:if-none-match': 'false' } });
    // S3's IAM has no version or creator condition key for PutObjectRetention: it stays unconditioned, named here so a change is seen.
    expect(allowingStatements(statements, 's3:PutObjectRetention', checkpoint).map((statement) => statement.Condition)).toEqual([undefined]);
  });

  it('reads and writes storage under its prefix only', () => {
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']) {
      expect(allowingStatements(statements, action, `${storageArn}/cairn/blobs/ab12`), action).toHaveLength(1);
      expect(allowingStatements(statements, action, `${storageArn}/other/ab12`), action).toEqual([]);
    }
    expect(allowingStatements(statements, 's3:PutBucketPolicy', storageArn)).toEqual([]);
  });

  it('names no wildcard action and no wildcard resource', () => {
    expect(allowedActions(statements).filter((action) => action.includes('*'))).toEqual([]);
    expect(allowedResources(statements)).not.toContain('*');
  });
});
