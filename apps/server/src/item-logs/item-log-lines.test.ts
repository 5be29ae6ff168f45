// How the log reader joins a running attempt's live log to its stored logs, on real local storage:
// no byte shown twice or skipped at the hand-over, a character split between reads kept whole, a
// lost attempt's live log as its output, one notice at the cap, and no gap when a segment goes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ItemLogLine, LiveLogState } from '@cairn/core';
import type { EngineService, ItemAttemptRecord } from '@cairn/engine';
import { createLocalStorageProvider } from '@cairn/local';
import { blobKey, canonicalJsonBytes, liveLogSegmentBytes, liveLogSegmentKey, liveLogStateKey, sha256Digest } from '@cairn/protocol';
import { afterEach, expect, test, vi } from 'vitest';
import { itemLogLines } from './item-log-lines.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const executionId = 'r-1/build/1';

function setUp() {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-item-logs-'));
  directories.push(directory);
  const storage = createLocalStorageProvider({ root: directory });
  let attempt: ItemAttemptRecord = {
    runId: 'r-1',
    itemId: 'build',
    attempt: 1,
    executionId,
    state: 'running',
    manifestDigest: `sha256:${'0'.repeat(64)}`,
    exitCode: null,
    artifacts: null,
    dispatchedAt: '2026-11-23T09:00:00.000Z',
    finishedAt: null,
    failure: null,
    lockWait: null,
  };
  // Only the engine's answer about the attempt: what is under test is the reading of storage.
  const service: Pick<EngineService, 'attempts'> = { attempts: async () => [attempt] };
  const live = async (stdout: Buffer, options: { truncated?: boolean; segments?: boolean } = {}) => {
    if (options.segments !== false) {
      for (let index = 0; index * liveLogSegmentBytes < stdout.byteLength; index++)
        await storage.put(liveLogSegmentKey(executionId, 'stdout', index), stdout.subarray(index * liveLogSegmentBytes, (index + 1) * liveLogSegmentBytes));
    }
    const state: LiveLogState = {
      version: 'cairn.live-log/v1',
      executionId,
      stdout: { bytes: stdout.byteLength, truncated: options.truncated ?? false },
      stderr: { bytes: 0, truncated: false },
      updatedAt: '2026-11-23T09:00:01.000Z',
    };
    await storage.put(liveLogStateKey(executionId), canonicalJsonBytes(state));
  };
  const end = async (stdout: Buffer | null, state: ItemAttemptRecord['state'] = 'succeeded') => {
    let artifacts: Record<string, string> | null = null;
    if (stdout) {
      const empty = Buffer.alloc(0);
      for (const bytes of [stdout, empty]) await storage.put(blobKey(sha256Digest(bytes)), bytes);
      artifacts = { stdout: sha256Digest(stdout), stderr: sha256Digest(empty) };
    }
    attempt = { ...attempt, state, exitCode: state === 'succeeded' ? 0 : null, artifacts, finishedAt: '2026-11-23T09:00:02.000Z' };
  };
  return { storage, service, live, end, attempt: () => attempt };
}

const stdoutOf = (lines: ItemLogLine[]) => lines.flatMap((line) => ('stream' in line && line.stream === 'stdout' ? [line.text] : [])).join('');

test('following: the live log up to where it is, then the stored log from that offset on; a character split across the segment boundary arrives whole', async () => {
  const { storage, service, live, end, attempt } = setUp();
  // "é" (2 bytes) straddles the first segment's end.
  const head = Buffer.concat([Buffer.alloc(liveLogSegmentBytes - 1, 'a'), Buffer.from('é')]);
  await live(head.subarray(0, liveLogSegmentBytes));
  const lines: ItemLogLine[] = [];
  const reading = (async () => {
    for await (const line of itemLogLines({ service, storage, attempt: attempt(), follow: true, pollMs: 20 })) lines.push(line);
  })();
  // Read up to where the live log is (its whole characters), however long the machine takes to get there.
  await vi.waitFor(() => expect(stdoutOf(lines)).toBe('a'.repeat(liveLogSegmentBytes - 1)), { timeout: 10_000, interval: 20 });
  // The worker removes the live log and the engine records the end with the stored log.
  await storage.delete(liveLogStateKey(executionId));
  await end(Buffer.concat([head, Buffer.from(' and the end\n')]));
  await reading;
  expect(stdoutOf(lines)).toBe(`${'a'.repeat(liveLogSegmentBytes - 1)}é and the end\n`);
  expect(lines.at(-1)).toEqual({ end: { attempt: 1, state: 'succeeded', exitCode: 0, finishedAt: '2026-11-23T09:00:02.000Z' } });
});

test('a lost attempt has no stored log: its live log is its output', async () => {
  const { storage, service, live, end, attempt } = setUp();
  await live(Buffer.from('started\nworking\n'));
  await end(null, 'lost');
  const lines: ItemLogLine[] = [];
  for await (const line of itemLogLines({ service, storage, attempt: attempt(), follow: false })) lines.push(line);
  expect(lines).toEqual([
    { stream: 'stdout', text: 'started\nworking\n' },
    { end: { attempt: 1, state: 'lost', exitCode: null, finishedAt: '2026-11-23T09:00:02.000Z' } },
  ]);
});

test('a stream at its cap gets one notice while the attempt runs', async () => {
  const { storage, service, live, attempt } = setUp();
  await live(Buffer.from('0123456789'), { truncated: true });
  const first: ItemLogLine[] = [];
  for await (const line of itemLogLines({ service, storage, attempt: attempt(), follow: false })) first.push(line);
  expect(first[0]).toEqual({ stream: 'stdout', text: '0123456789' });
  expect(first[1]).toMatchObject({ stream: 'stdout', text: expect.stringContaining('stdout reached limits.maxLogBytes (10 bytes)') });
  expect(first).toHaveLength(2);
});

test('a progress that counts a segment no longer there yields nothing past the gap', async () => {
  const { storage, service, live, attempt } = setUp();
  const bytes = Buffer.alloc(liveLogSegmentBytes + 10, 'b');
  await live(bytes);
  await storage.delete(liveLogSegmentKey(executionId, 'stdout', 0));
  const lines: ItemLogLine[] = [];
  for await (const line of itemLogLines({ service, storage, attempt: attempt(), follow: false })) lines.push(line);
  expect(lines).toEqual([]);
});
