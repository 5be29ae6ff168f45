import { expect, test } from 'vitest';
import { podProgress, type ObservedPod, type PodProgress } from './pod-progress.ts';

const created = '2026-11-28T07:00:00Z';
const at = (seconds: number) => Date.parse(created) + seconds * 1_000;
const pod = (status: NonNullable<ObservedPod['status']>, extra: Partial<ObservedPod> = {}): ObservedPod => ({
  metadata: { name: 'cairn-abc', uid: 'u-1', creationTimestamp: created },
  spec: { restartPolicy: 'Never', containers: [{ name: 'cairn-worker', resources: { limits: { memory: '64Mi' } } }] },
  status,
  ...extra,
});
const terminated = (exitCode: number, reason: string) => [{ name: 'cairn-worker', state: { terminated: { exitCode, reason } } }];
const waiting = (reason: string, message?: string) => [{ name: 'cairn-worker', state: { waiting: { reason, ...(message ? { message } : {}) } } }];

const rows: [string, ObservedPod, number, PodProgress | ((progress: PodProgress) => void)][] = [
  ['just created', pod({ phase: 'Pending' }), 1, { kind: 'pending' }],
  ['creating its container', pod({ phase: 'Pending', containerStatuses: waiting('ContainerCreating') }), 5, { kind: 'pending' }],
  [
    'waiting for its secret, within the pending timeout',
    pod({ phase: 'Pending', containerStatuses: waiting('CreateContainerConfigError') }),
    5,
    { kind: 'pending' },
  ],
  ['a first failed pull is tried again', pod({ phase: 'Pending', containerStatuses: waiting('ErrImagePull') }), 5, { kind: 'pending' }],
  ['running', pod({ phase: 'Running', containerStatuses: [{ name: 'cairn-worker', state: { running: {} } }] }), 5, { kind: 'running' }],
  [
    'exited 0',
    pod({ phase: 'Succeeded', containerStatuses: terminated(0, 'Completed') }),
    5,
    { kind: 'ended', named: false, status: { state: 'exited', outcome: 'succeeded', exitCode: 0 } },
  ],
  [
    'exited 3',
    pod({ phase: 'Failed', containerStatuses: terminated(3, 'Error') }),
    5,
    {
      kind: 'ended',
      named: false,
      status: { state: 'exited', outcome: 'failed', exitCode: 3, reason: 'the worker container exited with code 3 (Kubernetes: Error)' },
    },
  ],
  [
    'OOMKilled: CAIRN_ATTEMPT_MEMORY_EXCEEDED with the limit, no exit code',
    pod({ phase: 'Failed', containerStatuses: terminated(137, 'OOMKilled') }),
    5,
    (progress) => {
      expect(progress).toMatchObject({ kind: 'ended', named: true, status: { state: 'exited', outcome: 'failed' } });
      const status = (progress as { status: { reason: string; exitCode?: number } }).status;
      expect(status.reason).toMatch(/^CAIRN_ATTEMPT_MEMORY_EXCEEDED: .*\(64Mi\).*OOMKilled, exit code 137.*kubernetes\.podTemplate\.resources\.limits\.memory/);
      expect(status.exitCode).toBeUndefined();
    },
  ],
  [
    'Evicted, with what the kubelet said',
    pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.', containerStatuses: terminated(137, 'Error') }),
    5,
    {
      kind: 'ended',
      named: true,
      status: {
        state: 'exited',
        outcome: 'failed',
        reason: expect.stringMatching(/^Evicted: .*: The node was low on resource: memory\./) as unknown as string,
      },
    },
  ],
  [
    'DeadlineExceeded: timed out',
    pod({
      phase: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
      containerStatuses: terminated(137, 'Error'),
    }),
    5,
    {
      kind: 'ended',
      named: true,
      status: {
        state: 'exited',
        outcome: 'timed-out',
        reason: expect.stringMatching(/^DeadlineExceeded: .*longer than the specified deadline/) as unknown as string,
      },
    },
  ],
  [
    'ImagePullBackOff: stuck at once, naming the image settings',
    pod({ phase: 'Pending', containerStatuses: waiting('ImagePullBackOff', 'Back-off pulling image "registry.invalid/x:1"') }),
    5,
    {
      kind: 'stuck',
      status: {
        state: 'exited',
        outcome: 'failed',
        reason: expect.stringMatching(
          /^ImagePullBackOff: the worker image could not be pulled: Back-off pulling image "registry\.invalid\/x:1"\. Check kubernetes\.image/,
        ) as unknown as string,
      },
    },
  ],
  [
    'Unschedulable, past the pending timeout',
    pod({
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient memory.' }],
    }),
    60,
    {
      kind: 'stuck',
      status: {
        state: 'exited',
        outcome: 'failed',
        reason: expect.stringMatching(
          /^Unschedulable: the pod was not scheduled within 60 s \(kubernetes\.pendingTimeoutSeconds\): 0\/1 nodes are available: 1 Insufficient memory\./,
        ) as unknown as string,
      },
    },
  ],
  [
    'Unschedulable, within the pending timeout',
    pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes' }] }),
    59,
    { kind: 'pending' },
  ],
  [
    'a missing secret past the pending timeout',
    pod({ phase: 'Pending', containerStatuses: waiting('CreateContainerConfigError', 'secret "x" not found') }),
    61,
    {
      kind: 'stuck',
      status: {
        state: 'exited',
        outcome: 'failed',
        reason: expect.stringMatching(/^CreateContainerConfigError: .*: secret "x" not found$/) as unknown as string,
      },
    },
  ],
];

test.each(rows)('%s', (_what, observed, seconds, expected) => {
  const progress = podProgress(observed, 'cairn-worker', at(seconds), 60_000, 'kubernetes');
  if (typeof expected === 'function') expected(progress);
  else expect(progress).toEqual(expected);
});

test('a pod read through the client (dates as Date) counts its age the same way', () => {
  const read = pod({ phase: 'Pending' }, { metadata: { name: 'cairn-abc', creationTimestamp: new Date(created) } });
  expect(podProgress(read, 'cairn-worker', at(61), 60_000, 'kubernetes').kind).toBe('stuck');
  expect(podProgress(read, 'cairn-worker', at(30), 60_000, 'kubernetes').kind).toBe('pending');
});

test('a named reason has no closing period of its own: the engine closes the sentence it puts it in', () => {
  const named = rows.flatMap(([what, observed, seconds]) => {
    const progress = podProgress(observed, 'cairn-worker', at(seconds), 60_000, 'kubernetes');
    return progress.kind === 'stuck' || (progress.kind === 'ended' && progress.named) ? [[what, progress.status.reason] as const] : [];
  });
  expect(named.length).toBeGreaterThanOrEqual(6);
  for (const [what, reason] of named) expect(reason, what).toMatch(/[^.]$/);
});
