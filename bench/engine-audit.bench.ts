// Audit entries appended inside the engine's SQLite transactions: one entry per transaction (the
// worst case) and a thousand per transaction (group commit), with the Merkle tree in the same DB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, openEngineDatabase, WorkingCopy } from '@cairn/engine/internals';
import { recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

export default async function engineAuditBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-'));
  try {
    const database = openEngineDatabase(join(directory, 'engine.db'));
    const audit = new AuditLog(new WorkingCopy(database));
    const append = (index: number) =>
      audit.append({
        actor: { kind: 'system', id: 'engine', via: 'engine' },
        action: 'item.ready',
        entity: { kind: 'item', id: `r${index % 100}/i${index}` },
        outcome: 'success',
        runId: `r${index % 100}`,
        data: { index },
      });
    log('  appending audit entries in SQLite transactions');
    const single = 5_000;
    const singleTime = await timeMilliseconds(() => {
      for (let index = 0; index < single; index++) database.transaction(() => append(index))();
    });
    const grouped = 100_000;
    const groupedTime = await timeMilliseconds(() => {
      for (let batch = 0; batch < grouped / 1000; batch++) {
        database.transaction(() => {
          for (let index = 0; index < 1000; index++) append(single + batch * 1000 + index);
        })();
      }
    });
    database.close();
    return [
      recorded('engine.audit-append-1-per-tx', Math.round(single / (singleTime / 1000)), 'entries/s'),
      recorded('engine.audit-append-1000-per-tx', Math.round(grouped / (groupedTime / 1000)), 'entries/s'),
    ];
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
