// A task's container as the endpoint runs it: the definition's entrypoint from its root filesystem
// under bubblewrap, as its user, with exactly its environment; signalled as ECS signals it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { markStopped, type TestTask, type TestTaskDefinition } from './ecs-task.ts';

/** Docker's default capabilities, which ECS task definitions add to and drop from. */
const dockerDefaultCapabilities: readonly string[] = [
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

/** The capabilities a container gets from a definition's `capabilities`: Docker's defaults, the drops removed, the adds added. */
function containerCapabilities(capabilities: TestTaskDefinition['capabilities']): string[] {
  const drop = capabilities?.drop ?? [];
  const add = capabilities?.add ?? [];
  const kept = drop.includes('ALL') ? [] : dockerDefaultCapabilities.filter((name) => !drop.includes(name));
  return [...new Set([...kept, ...add])].sort();
}

/** How a container is started and what follows its exit. */
export interface ContainerStart {
  /** The bubblewrap binary. */
  readonly bwrap: string;
  /** How long an exited task stays DEPROVISIONING. */
  readonly deprovisioningMs: number;
  /** Runs `action` after `milliseconds` unless the endpoint stops first. */
  readonly after: (milliseconds: number, action: () => void) => void;
}

/** Starts the task's container: RUNNING once spawned, DEPROVISIONING then STOPPED once it exits; STOPPED at once when it cannot start. */
export function startTaskContainer(task: TestTask, definition: TestTaskDefinition, start: ContainerStart): void {
  const [uid = '1000', gid = uid] = (definition.user ?? '1000').split(':');
  const root = uid === '0';
  if (root && process.getuid?.() !== 0) {
    markStopped(task, {
      stopCode: 'TaskFailedToStart',
      stoppedReason: `CannotStartContainerError: the test endpoint runs a container of user 0 only when it runs as root itself (it runs as uid ${process.getuid?.()}): a user namespace maps one uid, and a root worker starts its runtime as another`,
    });
    return;
  }
  const namespaces = root
    ? [
        '--unshare-pid',
        '--unshare-ipc',
        '--unshare-uts',
        '--unshare-cgroup-try',
        '--cap-drop',
        'ALL',
        ...containerCapabilities(definition.capabilities).flatMap((name) => ['--cap-add', `CAP_${name}`]),
      ]
    : ['--unshare-all'];
  const args = [
    '--ro-bind',
    definition.rootfs,
    '/',
    ...(definition.binds ?? []).flatMap((bind) => ['--ro-bind', bind.source, bind.target]),
    '--tmpfs',
    '/tmp',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    ...namespaces,
    // The test-support compromise (see the top of ecs-endpoint.ts): the host's loopback services.
    '--share-net',
    '--die-with-parent',
    '--uid',
    uid,
    '--gid',
    gid,
    '--clearenv',
    ...Object.entries(task.environment).flatMap(([name, value]) => ['--setenv', name, value]),
    '--chdir',
    definition.workingDirectory ?? '/',
    '--',
    ...definition.entrypoint,
  ];
  let child: ChildProcess;
  try {
    // Detached: its own process group, which StopTask signals as a whole. bwrap gets no host
    // environment either (--clearenv empties what it would pass on; this keeps it out of bwrap too).
    child = spawn(start.bwrap, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: {} });
  } catch (error) {
    markStopped(task, { stopCode: 'TaskFailedToStart', stoppedReason: `CannotStartContainerError: ${(error as Error).message}` });
    return;
  }
  task.process = child;
  child.stdout!.on('data', (chunk: Buffer) => (task.output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (task.output += chunk.toString('utf8')));
  child.once('spawn', () => {
    task.containerStarted = true;
    task.startedAt = Date.now();
    if (task.lastStatus === 'PENDING') task.lastStatus = 'RUNNING';
  });
  child.once('error', (error) => {
    if (!task.containerStarted) markStopped(task, { stopCode: 'TaskFailedToStart', stoppedReason: `CannotStartContainerError: ${error.message}` });
  });
  child.once('exit', (code, signal) => {
    clearTimeout(task.killTimer);
    task.exitCode = code ?? 128 + signalNumber(signal);
    task.lastStatus = 'DEPROVISIONING';
    task.stoppingAt ??= Date.now();
    start.after(start.deprovisioningMs, () =>
      markStopped(
        task,
        task.stopCode === 'UserInitiated'
          ? { stopCode: 'UserInitiated', stoppedReason: task.stoppedReason ?? 'Task stopped by user' }
          : { stopCode: 'EssentialContainerExited', stoppedReason: 'Essential container in task exited' },
      ),
    );
  });
}

/** Sends a signal to the container's whole process group. */
export function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Gone already.
  }
}

/**
 * Sends a signal to the container's own processes, as ECS sends StopTask's SIGTERM to the
 * container: not to the bwrap processes around them, whose death would take the container down at
 * once (--die-with-parent) instead of letting it end the attempt cleanly.
 */
export function signalContainer(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // Fields after the name: state, ppid, pgrp.
      if (Number(afterName[2]) === child.pid && name !== 'bwrap') process.kill(Number(entry), signal);
    } catch {
      // Gone in between.
    }
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 0;
}
