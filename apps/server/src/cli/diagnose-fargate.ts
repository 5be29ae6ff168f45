import { DescribeTasksCommand } from '@aws-sdk/client-ecs';
import { ecsClientFor } from '@cairn/fargate';
import type { ExecutorConfig } from '../config/server-config-schema.ts';

type FargateExecutorConfig = Extract<ExecutorConfig, { kind: 'fargate' }>;
type Note = (check: string, ok: boolean, detail: string, fix?: string) => void;

/**
 * A task id no task has (ECS task ids are 32 hex digits): asking for it is a read that changes
 * nothing, answered MISSING by a cluster that exists and lets this identity describe its tasks.
 */
const probeTaskId = '0000000000000000000000000000cafe';

/**
 * A fargate executor: ECS answers for the cluster. One DescribeTasks call (the read the server
 * makes for every live task, so the permission it checks is one the server needs; ONE attempt:
 * a doctor reports, it does not wait out retries). A cluster that exists answers the probe task
 * MISSING; a missing cluster, refused credentials or an endpoint that does not answer each get
 * their own fix.
 */
export async function diagnoseFargate(config: FargateExecutorConfig, note: Note): Promise<void> {
  const check = 'executor fargate';
  const where = `cluster ${config.cluster}${config.region ? ` in ${config.region}` : ''}${config.endpoint ? ` at ${config.endpoint}` : ''}`;
  const client = ecsClientFor({
    ...(config.region ? { region: config.region } : {}),
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    requestTimeoutMs: Math.min(config.requestTimeoutMs, 10_000),
    maxAttempts: 1,
  });
  try {
    const answer = await client.send(new DescribeTasksCommand({ cluster: config.cluster, tasks: [probeTaskId] }));
    const missing = (answer.failures ?? []).some((failure) => failure.reason === 'MISSING');
    note(
      check,
      true,
      `ECS answers for ${where} (DescribeTasks: ${missing ? 'the probe task is MISSING, as expected' : 'answered'}); RunTask of ${config.taskDefinition} is not tried (it would start a task)`,
    );
  } catch (error) {
    const { name = 'Error', message = '', $metadata } = (error ?? {}) as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = $metadata?.httpStatusCode;
    const text =
      status !== undefined
        ? `ECS answered ${status} ${name}${message ? `: ${message}` : ''}`
        : `no answer (${name}${message && message !== name ? `: ${message}` : ''})`;
    note(check, false, `${where}: ${text}`, fargateFix(name, status));
  } finally {
    client.destroy();
  }
}

/** What to do about a DescribeTasks that failed, from what ECS answered. */
function fargateFix(name: string, status: number | undefined): string {
  if (name === 'ClusterNotFoundException')
    return 'the cluster does not exist there: fix executor.cluster (its name or ARN) or executor.region, or create it (deploy/aws makes one)';
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException' || name === 'InvalidSignatureException' || status === 403)
    return "the credentials were refused: give the identity the SDK finds (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the server's role) ecs:DescribeTasks, ecs:RunTask and ecs:StopTask on the cluster (deploy/aws's server policy), or fix the keys";
  if (status === undefined)
    return 'ECS did not answer: check executor.region and executor.endpoint, that this machine can reach ECS (network, DNS, proxy, a VPC endpoint for ecs), and try again';
  return 'check executor.cluster, executor.region and executor.endpoint, and the ECS service health';
}
