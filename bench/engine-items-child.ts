// Runs one run of N independent items (argv[2]) at a concurrency (argv[3]) through a fresh engine
// and prints, as JSON, its peak RSS and wall time, plus where the peak was reached: a process of
// its own, so nothing measured before counts towards the peak, and one strace can count the
// fsyncs of; and, per thread, the CPU time and the time waiting for a CPU over the run (where a
// wall longer than the CPU went). Run by engine-scale.bench.ts and engine.bench.ts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import { createEngine } from '@cairn/engine';
import { createDiscardingStorage } from './discarding-storage.ts';
import { InstantExecutor } from './instant-executor.ts';
import { readThreadSchedules, scheduleBetween } from './thread-schedule.ts';

const count = Number(process.argv[2]);
const concurrency = Number(process.argv[3]);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(concurrency) || concurrency < 1)
  throw new Error(`usage: engine-items-child.ts <items> <concurrency>, not ${process.argv.slice(2).join(' ')}`);
// The peak of this process image (VmHWM), not getrusage's maxRSS: Linux carries maxRSS across fork
// and exec, so a child of a large parent would report the parent's peak.
const maxRssMb = () => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-items-'));
const storage = createDiscardingStorage();
const engine = createEngine({
  database: join(directory, 'engine.db'),
  executors: { instant: new InstantExecutor({ record: false }) },
  storage,
  signer: createInMemorySigner(),
  concurrency,
  reconcileIntervalMs: 60_000,
  inboxPollMs: false,
});
try {
  engine.start();
  const baselineRssMb = maxRssMb();
  const schedulesBefore = readThreadSchedules();
  const started = performance.now();
  // The spec is part of what a submitter holds, so it is built inside the measured span.
  const items = Array.from({ length: count }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } }));
  const { runId } = engine.submit({ version: 1, name: 'items', items }, { actor: { kind: 'system', id: 'bench', via: 'engine' } });
  const submitMs = performance.now() - started;
  // The peak so far: a high peak here and no higher one later means submitting, not running, sets it.
  const afterSubmitRssMb = maxRssMb();
  const run = await engine.waitForRun(runId);
  if (run.state !== 'succeeded') throw new Error(`the run ended ${run.state}`);
  const wallMs = performance.now() - started;
  const threads = scheduleBetween(schedulesBefore, readThreadSchedules());
  const { heapUsed } = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({ maxRssMb: maxRssMb(), baselineRssMb, afterSubmitRssMb, heapUsedAtEndMb: heapUsed / 1048576, wallMs, submitMs, auditEntries: engine.audit.size, storageBytes: storage.bytesWritten, threads })}\n`,
  );
} finally {
  await engine.close();
  rmSync(directory, { recursive: true, force: true });
}
