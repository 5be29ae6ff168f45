// An item that reached a disk limit (its /tmp, its workspace) and freed the space before anyone
// looked still has the limit named in its result, even when it succeeded: the kernel counts every
// write it refused (see SpaceRefusals). Real sandboxes, real mounts, a real tracefs; the refusals
// asserted are the kernel's.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionHandle, ExecutionStatus, PublicKeyRecord, ResultRecord, RuntimeSpec } from '@cairn/core';
import { createEngine } from '@cairn/engine';
import { expect, test } from 'vitest';
import { createLocalSigner } from '../signer/local-signer.ts';
import { createLocalStorageProvider } from '../storage/local-storage-provider.ts';
import { createLocalExecutor, type LocalExecutor } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';

const mebibyte = 1024 * 1024;
type World = ReturnType<typeof executorWorld>;

async function exited(executor: LocalExecutor, handle: ExecutionHandle): Promise<ExecutionStatus> {
  let status = await executor.inspect(handle);
  for (let wait = 0; wait < 1_600 && status.state !== 'exited'; wait++) {
    await sleep(25);
    status = await executor.inspect(handle);
  }
  return status;
}

async function runItem(world: World, executor: LocalExecutor, executionId: string, runtime: RuntimeSpec) {
  const limits = { timeoutMs: 30_000, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 };
  const status = await exited(executor, await executor.start(world.task(executionId, runtime, { limits })));
  const record = JSON.parse(new TextDecoder().decode((await world.storage.get(`results/${executionId}.json`))!)) as ResultRecord;
  return { status, record };
}

/**
 * Writes 64 KiB at a time into `path` until the kernel refuses, then removes the file at once (a
 * few microseconds later: no look every 250 ms falls between the two), and exits 0.
 */
const fillAndFree = (path: string): RuntimeSpec => ({
  kind: 'command',
  argv: [
    '/usr/bin/perl',
    '-e',
    `open(my $f, '>', '${path}') or die; my $n = 0; $n++ while defined syswrite($f, "\\0" x 65536); unlink '${path}'; print "refused after $n writes\\n"; exit 0`,
  ],
});

/**
 * The tracefs instances of this process that still follow a process. An attempt's are emptied at its
 * end (they follow pid 0, the idle task, again) and kept a while for the next attempt, this file's or
 * another test file's in the same worker process (see TraceInstance): kept is fine, following is not.
 */
const followingInstances = () =>
  readdirSync('/sys/kernel/tracing/instances')
    .filter((name) => name.startsWith(`cairn-space-${process.pid}-`))
    .filter((name) => readFileSync(join('/sys/kernel/tracing/instances', name, 'set_event_pid'), 'utf8').trim() !== '0');

test('an item that filled its /tmp to the limit, freed it and exited 0 succeeds, and its result names the limit it reached', { timeout: 60_000 }, async () => {
  const world = executorWorld();
  try {
    const executor = createLocalExecutor({
      storage: world.storage,
      trustedKeys: [world.key],
      stateDirectory: world.stateDirectory,
      workRoot: world.workRoot,
      limits: { workspaceBytes: 64 * mebibyte, tmpBytes: 16 * mebibyte },
    });
    const { status, record } = await runItem(world, executor, 'run-1/tmp-filled-and-freed/1', fillAndFree('/tmp/big'));
    expect(status, JSON.stringify(record.failure)).toMatchObject({ state: 'exited', outcome: 'succeeded' });
    expect(record.outcome).toBe('succeeded');
    expect(record.failure).toBeUndefined();
    expect(record.limitsHit).toHaveLength(1);
    const [hit] = record.limitsHit!;
    // Freed before the attempt ended, and named all the same: /tmp, its limit and the setting.
    expect(hit).toMatchObject({ limit: 'tmp', limitBytes: 16 * mebibyte });
    expect(hit!.refusedWrites).toBeGreaterThanOrEqual(1);
    expect(hit!.message).toContain('reached its /tmp disk limit of 16 MiB');
    expect(hit!.message).toContain('limits.tmpBytes');

    // Kept full: the attempt fails for it (as before), and the result names /tmp alone.
    const kept = await runItem(world, executor, 'run-1/tmp-kept-full/1', {
      kind: 'command',
      argv: ['/usr/bin/perl', '-e', `open(my $f, '>', '/tmp/big') or die; 1 while defined syswrite($f, "\\0" x 65536); exit 0`],
    });
    expect(kept.record.outcome).toBe('failed');
    expect(kept.record.failure?.code).toBe('CAIRN_ATTEMPT_DISK_EXCEEDED');
    expect(kept.record.limitsHit).toEqual([expect.objectContaining({ limit: 'tmp', limitBytes: 16 * mebibyte })]);

    // Within its limits: nothing refused, nothing named; and no counting instance follows anything after its attempt.
    const within = await runItem(world, executor, 'run-1/within/1', {
      kind: 'command',
      argv: ['/bin/sh', '-c', 'dd if=/dev/zero of=/tmp/data bs=1M count=8 2>/dev/null && dd if=/dev/zero of=data bs=1M count=8 2>/dev/null'],
    });
    expect(within.record.outcome).toBe('succeeded');
    expect(within.record.limitsHit, JSON.stringify(within.record.limitsHit)).toBeUndefined();
    expect(followingInstances()).toEqual([]);
  } finally {
    world.cleanUp();
  }
});

test("the item's history says so too: its attempt.completed entry names the limit, the item succeeded", { timeout: 60_000 }, async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-limit-hit-'));
  chmodSync(directory, 0o711);
  const storage = createLocalStorageProvider({ root: join(directory, 'storage') });
  const signer = createLocalSigner({ keyFile: join(directory, 'keys', 'signing.pem'), create: true });
  const key: PublicKeyRecord = {
    keyId: await signer.keyId(),
    algorithm: signer.algorithm,
    publicKey: Buffer.from(await signer.publicKey()).toString('base64'),
  };
  const executor = createLocalExecutor({
    storage,
    trustedKeys: [key],
    stateDirectory: join(directory, 'state'),
    workRoot: join(directory, 'work'),
    limits: { tmpBytes: 16 * mebibyte },
  });
  const engine = createEngine({
    database: join(directory, 'engine.db'),
    executors: { local: executor },
    storage,
    signer,
    reconcileIntervalMs: 200,
    inboxPollMs: false,
  });
  try {
    engine.start();
    const { runId } = engine.submit(
      { version: 1, name: 'fills-tmp', items: [{ id: 'filler', runtime: fillAndFree('/tmp/big'), retry: { maxAttempts: 3 } }] },
      { actor: { kind: 'user', id: 'ana', via: 'cli' } },
    );
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    const completed = engine.audit.runEntries(runId).filter((entry) => entry.action === 'attempt.completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]!.outcome).toBe('success');
    expect(completed[0]!.data['limitsHit']).toEqual([{ limit: 'tmp', refusedWrites: expect.any(Number), limitBytes: 16 * mebibyte }]);
  } finally {
    await engine.close();
    rmSync(directory, { recursive: true, force: true });
  }
});

test('an item that filled its workspace and freed it has the workspace named, not /tmp', { timeout: 60_000 }, async () => {
  const world = executorWorld();
  try {
    const executor = createLocalExecutor({
      storage: world.storage,
      trustedKeys: [world.key],
      stateDirectory: world.stateDirectory,
      workRoot: world.workRoot,
      limits: { workspaceBytes: 32 * mebibyte, tmpBytes: 64 * mebibyte },
    });
    const { record } = await runItem(world, executor, 'run-1/workspace-filled-and-freed/1', fillAndFree('big'));
    // ext4 takes its time refusing (it flushes first): a look may find it full and stop the item,
    // or not. Either way the refusals are the workspace's.
    expect(record.limitsHit).toEqual([expect.objectContaining({ limit: 'workspace', limitBytes: 32 * mebibyte })]);
    expect(record.limitsHit![0]!.message).toContain('reached its workspace disk limit of 32 MiB');
  } finally {
    world.cleanUp();
  }
});
