// The log sink on a real full disk (a tmpfs filled to the last byte): lines it cannot write are
// dropped and counted instead of thrown, and once there is room the log goes on, whole lines only.
import { closeSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { FileDescriptorSink } from './file-descriptor-sink.ts';
import type { LogSinkOutage } from './log-sink-health.ts';

const disk = useSmallFileSystem(1);
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function logFile(name: string): { file: string; descriptor: number } {
  const file = join(disk.path, name);
  const descriptor = openSync(file, 'a');
  cleanups.push(() => {
    closeSync(descriptor);
    unlinkSync(file);
  });
  return { file, descriptor };
}

function fill(): () => void {
  const filler = join(disk.path, 'filler');
  disk.fill(filler);
  let freed = false;
  const free = () => {
    if (!freed) unlinkSync(filler);
    freed = true;
  };
  cleanups.push(free);
  return free;
}

test('on a full disk lines are dropped and counted, not thrown; with room again the sink recovers, says what was lost, and a line cut short is ended', async () => {
  const { file, descriptor } = logFile('server.log');
  const sink = new FileDescriptorSink(descriptor);
  const outages: LogSinkOutage[] = [];
  sink.health.onRecovered((outage) => outages.push(outage));
  sink.write('{"msg":"first"}\n');
  expect(sink.health.status()).toEqual({ ok: true, droppedLines: 0 });

  const free = fill();
  // Longer than what is left of the file's last page: part of it is written, then ENOSPC.
  const long = `{"msg":"${'x'.repeat(6_000)}"}\n`;
  expect(() => sink.write(long)).not.toThrow();
  for (let line = 0; line < 3; line++) expect(() => sink.write(`{"msg":"dropped ${line}"}\n`)).not.toThrow();
  const failing = sink.health.status();
  expect(failing).toMatchObject({ ok: false, droppedLines: 4, reason: expect.stringMatching(/^ENOSPC/) });
  expect(Date.parse(failing.since!)).not.toBeNaN();

  free();
  sink.write('{"msg":"after"}\n');
  expect(sink.health.status()).toEqual({ ok: true, droppedLines: 4 });
  await Promise.resolve();
  expect(outages).toEqual([{ since: failing.since, reason: failing.reason, droppedLines: 4 }]);

  const lines = readFileSync(file, 'utf8').split('\n');
  expect(lines[0]).toBe('{"msg":"first"}');
  // What the disk took of the long line, on a line of its own, then every later line whole.
  expect(long.startsWith(lines[1]!)).toBe(true);
  expect(lines[1]!.length).toBeGreaterThan(0);
  expect(lines[1]!.length).toBeLessThan(long.length - 1);
  expect(lines.slice(2)).toEqual(['{"msg":"after"}', '']);
});

test('a second outage is reported on its own: its own start, reason and count', async () => {
  const { descriptor } = logFile('again.log');
  const sink = new FileDescriptorSink(descriptor);
  const outages: LogSinkOutage[] = [];
  sink.health.onRecovered((outage) => outages.push(outage));
  for (let outage = 0; outage < 2; outage++) {
    const free = fill();
    // Enough lines to fill what is left of the file's last page and be refused.
    for (let line = 0; line < 40; line++) sink.write(`{"outage":${outage},"line":${line},"pad":"${'p'.repeat(100)}"}\n`);
    expect(sink.health.status().ok).toBe(false);
    free();
    sink.write('{"msg":"room again"}\n');
    await Promise.resolve();
  }
  expect(outages).toHaveLength(2);
  const [first, second] = outages;
  expect(first!.droppedLines + second!.droppedLines).toBe(sink.health.status().droppedLines);
  expect(second!.droppedLines).toBeGreaterThan(0);
  expect(Date.parse(second!.since)).toBeGreaterThanOrEqual(Date.parse(first!.since));
});

test('a descriptor that refuses every write (EBADF: opened read-only, or closed) drops the line instead of throwing', () => {
  const { file } = logFile('read-only.log');
  const readOnly = openSync(file, 'r');
  cleanups.push(() => closeSync(readOnly));
  const sink = new FileDescriptorSink(readOnly);
  expect(() => sink.write('{"msg":"nowhere"}\n')).not.toThrow();
  expect(sink.health.status()).toMatchObject({ ok: false, droppedLines: 1, reason: expect.stringMatching(/^EBADF/) });
});
