// The disk under an attempt's mounts (AttemptMounts) is full: before the runtime runs, the worker
// waits for room and prepares the attempt again; once it has run, the mounts' report that writes
// were lost fails the attempt with it, past its exit code or timeout, and nothing of the workspace
// is kept. The mounts here are a stand-in that reports what a test tells it (the local executor's
// real ones are tested in @cairn/local), so these are the worker's decisions alone.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { CairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { createCommandRuntime } from '../runtime/command-runtime.ts';
import { signedCommandTask, temporaryDirectory } from '../testing/worker.test-support.ts';
import type { AttemptFolders, AttemptMounts } from './attempt-mounts.ts';
import { createWorker } from './worker.ts';

const hostFull = () => new CairnError('CAIRN_ATTEMPT_HOST_DISK_FULL', 'The disk holding the attempt is full (a test says so).');

/** Mounts that mount nothing and report the disk under them full as `full` says; counts their calls. */
function standInMounts(full: { mount: () => boolean; limitReached: () => boolean }) {
  const calls = { mount: 0, unmount: 0 };
  const mounts: AttemptMounts = {
    mount: async (_folders: AttemptFolders) => {
      calls.mount++;
      if (full.mount()) throw hostFull();
    },
    unmount: async () => {
      calls.unmount++;
    },
    limitReached: async () => (full.limitReached() ? hostFull() : undefined),
  };
  return { mounts, calls };
}

test(
  'a full disk under the mounts before the runtime runs is waited out: the attempt is prepared again once there is room, and succeeds',
  { timeout: 30_000 },
  async () => {
    const storage = createInMemoryStorageProvider();
    const { task, trustedKeys } = await signedCommandTask(storage, 'run-1', ['/bin/sh', '-c', 'printf x > new.txt']);
    // Full for the first three tries (counted, not timed: a slow machine tries as often).
    const { mounts, calls } = standInMounts({ mount: () => calls.mount <= 3, limitReached: () => false });
    const worker = createWorker({
      storage,
      trustedKeys,
      runtimes: { command: createCommandRuntime({ killGraceMs: 200 }) },
      workRoot: temporaryDirectory('cairn-worker-root-'),
      attemptMounts: mounts,
    });
    const record = await worker.run(task);
    expect(record).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(record.artifacts.patch).toBeDefined();
    // Refused three times, then mounted; every attempt folder made was unmounted on its way out.
    expect(calls.mount).toBe(4);
    expect(calls.unmount).toBe(1);
  },
);

test(
  'writes lost after the runtime ran fail the attempt with CAIRN_ATTEMPT_HOST_DISK_FULL, even when it exited 0, and keep no output nor patch',
  { timeout: 30_000 },
  async () => {
    const storage = createInMemoryStorageProvider();
    const { task, trustedKeys } = await signedCommandTask(storage, 'run-2', ['/bin/sh', '-c', 'printf x > new.txt; printf "{}" > output.json']);
    let ran = false;
    const { mounts } = standInMounts({ mount: () => false, limitReached: () => ran });
    const runtime = createCommandRuntime({ killGraceMs: 200 });
    const worker = createWorker({
      storage,
      trustedKeys,
      runtimes: {
        command: {
          specificationVersion: 'v1',
          kind: runtime.kind,
          run: async (invocation) => {
            const result = await runtime.run(invocation);
            ran = true;
            return result;
          },
        },
      },
      workRoot: temporaryDirectory('cairn-worker-root-'),
      attemptMounts: mounts,
    });
    const record = await worker.run(task);
    expect(record).toMatchObject({ outcome: 'failed', exitCode: 0, failure: { code: 'CAIRN_ATTEMPT_HOST_DISK_FULL' } });
    expect(record.artifacts.patch).toBeUndefined();
    expect(record.artifacts.output).toBeUndefined();
  },
);

test('writes lost while the runtime runs stop it at once, as a full workspace does', { timeout: 30_000 }, async () => {
  const storage = createInMemoryStorageProvider();
  const { task, trustedKeys } = await signedCommandTask(storage, 'run-3', ['/bin/sh', '-c', 'touch started; sleep 30']);
  let workspace: string | undefined;
  const { mounts } = standInMounts({
    mount: () => false,
    // Lost as soon as the runtime has started writing.
    limitReached: () => workspace !== undefined && existsSync(join(workspace, 'started')),
  });
  const worker = createWorker({
    storage,
    trustedKeys,
    runtimes: { command: createCommandRuntime({ killGraceMs: 200 }) },
    workRoot: temporaryDirectory('cairn-worker-root-'),
    attemptMounts: {
      ...mounts,
      mount: async (folders) => {
        workspace = folders.workspace;
        await mounts.mount(folders);
      },
    },
  });
  const started = Date.now();
  const record = await worker.run(task);
  expect(record).toMatchObject({ outcome: 'failed', failure: { code: 'CAIRN_ATTEMPT_HOST_DISK_FULL' } });
  expect(Date.now() - started).toBeLessThan(10_000);
});
