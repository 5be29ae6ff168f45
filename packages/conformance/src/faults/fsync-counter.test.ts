import { expect, test } from 'vitest';
import { countFsyncs, parseSummary } from './fsync-counter.ts';

// A Node program that makes a file durable a known number of times, on the main thread and on
// libuv's pool threads (where an asynchronous fsync runs), as the engine and the server do.
const program = `
const { openSync, fsyncSync, fdatasyncSync, writeSync, closeSync, promises } = require('node:fs');
const path = require('node:path').join(require('node:os').tmpdir(), 'cairn-fsync-' + process.pid);
const fd = openSync(path, 'w');
for (let index = 0; index < 5; index++) { writeSync(fd, 'x'); fsyncSync(fd); }
for (let index = 0; index < 2; index++) { writeSync(fd, 'y'); fdatasyncSync(fd); }
closeSync(fd);
(async () => {
  const handle = await promises.open(path, 'a');
  for (let index = 0; index < 4; index++) { await handle.write('z'); await handle.sync(); }
  await handle.close();
  require('node:fs').rmSync(path);
  process.stdout.write('done\\n');
})();
`;

test('counts the fsync and fdatasync calls of a process, on every thread, and passes its output through', () => {
  const { fsyncs, stdout } = countFsyncs([process.execPath, '-e', program]);
  expect(stdout).toBe('done\n');
  expect(fsyncs).toBe(11);
});

test('a process that makes nothing durable counts zero', () => {
  expect(countFsyncs([process.execPath, '-e', 'process.stdout.write("quiet")']).fsyncs).toBe(0);
});

test('reads the calls column of the summary, with or without an errors column', () => {
  const summary = [
    '% time     seconds  usecs/call     calls    errors syscall',
    '------ ----------- ----------- --------- --------- ----------------',
    ' 90.00    0.000900          90        10           fdatasync',
    ' 10.00    0.000100          33         3         1 fsync',
    '------ ----------- ----------- --------- --------- ----------------',
    '100.00    0.001000          76        13         1 total',
  ].join('\n');
  expect(parseSummary(summary)).toBe(13);
});
