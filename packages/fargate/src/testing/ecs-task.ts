// A task of the ECS test endpoint, its definition, and the account and region its ARNs name.
import type { ChildProcess } from 'node:child_process';

/** The region and account of the endpoint's ARNs. */
export const region = 'us-east-1';
export const account = '111122223333';

/** A task definition as the endpoint runs it: what an OCI image's config and the ECS task definition say together. */
export interface TestTaskDefinition {
  /** The container's root filesystem (an unpacked OCI image, or `workerTestRootfs`'s), bound read-only at `/`. */
  readonly rootfs: string;
  /** The container's command: the image's entrypoint (absolute, or found on the container's PATH). */
  readonly entrypoint: readonly string[];
  /** `uid` or `uid:gid` inside the container (the image's user); 1000 by default. */
  readonly user?: string;
  /** The task definition's environment (the container's base environment, before overrides). */
  readonly environment?: Readonly<Record<string, string>>;
  /** The container's name (overrides must name it); `cairn-worker` by default. */
  readonly containerName?: string;
  /** More host paths bound read-only into the container (`workerTestRootfs` uses them; an OCI rootfs needs none). */
  readonly binds?: readonly { readonly source: string; readonly target: string }[];
  /** The working directory inside the container; `/` by default. */
  readonly workingDirectory?: string;
  /**
   * The container definition's `linuxParameters.capabilities` (ECS names: `SETUID`, or `ALL`), applied
   * to Docker's default set as ECS does: drop, then add. Fargate takes only `SYS_PTRACE` in `add`
   * (the endpoint refuses others at start). They matter to a container of user 0: a process of any
   * other user has none in effect.
   */
  readonly capabilities?: { readonly add?: readonly string[]; readonly drop?: readonly string[] };
}

/** A task as the endpoint keeps it. */
export interface TestTask {
  readonly taskArn: string;
  readonly clusterArn: string;
  readonly family: string;
  /** The container's environment: the definition's plus the overrides, what the process got. */
  readonly environment: Readonly<Record<string, string>>;
  lastStatus: 'PROVISIONING' | 'PENDING' | 'RUNNING' | 'DEPROVISIONING' | 'STOPPED';
  desiredStatus: 'RUNNING' | 'STOPPED';
  /** Whether its container process was started (the oracle's count of task bodies run). */
  containerStarted: boolean;
  exitCode?: number;
  stopCode?: 'TaskFailedToStart' | 'EssentialContainerExited' | 'UserInitiated';
  stoppedReason?: string;
  containerReason?: string;
  /** The container's stdout and stderr together, as CloudWatch Logs would hold them. */
  output: string;
  readonly createdAt: number;
  startedAt?: number;
  stoppingAt?: number;
  stoppedAt?: number;
  readonly request: Record<string, unknown>;
  process?: ChildProcess;
  killTimer?: NodeJS.Timeout;
}

/** Ends a task: STOPPED with its stop code and reason. */
export function markStopped(task: TestTask, how: { stopCode: NonNullable<TestTask['stopCode']>; stoppedReason: string }): void {
  task.stopCode = how.stopCode;
  task.stoppedReason = how.stoppedReason;
  task.desiredStatus = 'STOPPED';
  task.lastStatus = 'STOPPED';
  task.stoppingAt ??= Date.now();
  task.stoppedAt = Date.now();
}
