// Runs one run of N independent items (argv[2]) through a fresh engine and prints its peak RSS
// and wall time as JSON: a process of its own, so nothing measured before counts towards the peak.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import { createEngine } from '@cairn/engine';
import { createDirectoryStorage } from './directory-storage.ts';
import { InstantExecutor } from './instant-executor.ts';

const count = Number(process.argv[2]);
const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-items-'));
const engine = createEngine({
  database: join(directory, 'engine.db'),
  executors: { instant: new InstantExecutor({ record: false }) },
  storage: createDirectoryStorage(join(directory, 'storage')),
  signer: createInMemorySigner(),
  concurrency: 1_000,
  reconcileIntervalMs: 60_000,
  inboxPollMs: false,
});
try {
  engine.start();
  const started = performance.now();
  const items = Array.from({ length: count }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } }));
  const { runId } = engine.submit({ version: 1, name: 'items', items }, { actor: { kind: 'system', id: 'bench', via: 'engine' } });
  const run = await engine.waitForRun(runId);
  if (run.state !== 'succeeded') throw new Error(`the run ended ${run.state}`);
  const wallMs = performance.now() - started;
  process.stdout.write(`${JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024, wallMs, auditEntries: engine.audit.size })}\n`);
} finally {
  await engine.close();
  rmSync(directory, { recursive: true, force: true });
}
