// A disk that is full when the worker stores what an attempt produced: the attempt's work is kept
// and written once there is room — the run of the item does not fail for the machine's sake.
// The storage here writes each object to a real tmpfs (mounted by the test: it runs as root)
// before keeping it, so a full disk answers with a real ENOSPC from write(2).
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageProviderV1 } from '@cairn/core';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { resultKey } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { createCommandRuntime } from '../runtime/command-runtime.ts';
import { signedCommandTask, temporaryDirectory } from '../testing/worker.test-support.ts';
import { createWorker } from './worker.ts';

const disk = useSmallFileSystem(1);

test(
  'results stored while the disk is full are written once there is room: the attempt succeeds, its result and blobs are all stored',
  { timeout: 30_000 },
  async () => {
    const inner = createInMemoryStorageProvider();
    let written = 0;
    const storage: StorageProviderV1 = {
      specificationVersion: 'v1',
      provider: inner.provider,
      capabilities: inner.capabilities,
      put: async (key, body, options) => {
        writeFileSync(join(disk.path, `object-${written++}`), body);
        return inner.put(key, body, options);
      },
      get: (key) => inner.get(key),
      head: (key) => inner.head(key),
      list: (options) => inner.list(options),
      delete: (key) => inner.delete(key),
    };
    const { manifest, manifestDigest, trustedKeys } = await signedCommandTask(inner, 'run-1', ['/bin/sh', '-c', 'echo hi; printf x > new.txt']);
    const worker = createWorker({
      storage,
      trustedKeys,
      runtimes: { command: createCommandRuntime({ killGraceMs: 200 }) },
      workRoot: temporaryDirectory('cairn-worker-root-'),
    });
    const filler = join(disk.path, 'filler');
    disk.fill(filler);
    let settled = false;
    const running = worker.run({ executionId: manifest.executionId, manifestDigest }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    // Waiting for room, not failed, and nothing stored yet.
    expect(settled).toBe(false);
    expect(await inner.get(resultKey(manifest.executionId))).toBeNull();
    unlinkSync(filler);
    const record = await running;
    expect(record).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(record.artifacts.patch).toBeDefined();
    expect(await inner.get(resultKey(manifest.executionId))).not.toBeNull();
  },
);

test(
  'a work directory on a full disk waits for room instead of failing the attempt: the workspace is prepared and the runtime runs once there is room',
  { timeout: 30_000 },
  async () => {
    const storage = createInMemoryStorageProvider();
    const { manifest, manifestDigest, trustedKeys } = await signedCommandTask(storage, 'run-2', ['/bin/sh', '-c', 'printf x > new.txt']);
    const workRoot = join(disk.path, 'work');
    const worker = createWorker({
      storage,
      trustedKeys,
      runtimes: { command: createCommandRuntime({ killGraceMs: 200 }) },
      workRoot,
    });
    const filler = join(disk.path, 'filler');
    disk.fill(filler);
    let settled = false;
    const running = worker.run({ executionId: manifest.executionId, manifestDigest }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(settled).toBe(false);
    unlinkSync(filler);
    const record = await running;
    expect(record).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(record.artifacts.patch).toBeDefined();
  },
);
