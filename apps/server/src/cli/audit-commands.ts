import type { AuditAction } from '@cairn/core';
import { exportLogNdjson } from '@cairn/audit';
import type { AuditEntryFilters } from '@cairn/client';
import { clientOf, json, program, say } from './cli-program.ts';
import { writeChunks } from './file-output.ts';

/**
 * `cairn audit export`: the audit log (or part of it) as NDJSON, streamed from the server.
 * `cairn audit bundle`: one run's evidence bundle, to verify offline with `cairn verify`.
 */
export function addAuditCommands(): void {
  const audit = program.command('audit').description('the audit log of a running server (audit:read)');
  audit
    .command('export')
    .option('--run <runId>', "only this run's entries")
    .option('--action <action>', 'only this action (run.submitted, item.reused, access.denied, ...)')
    .option('--actor <id>', 'only entries by this actor id (token:<id>, operator, engine)')
    .option('--since <time>', 'only entries at or after this ISO time')
    .option('--until <time>', 'only entries before this ISO time')
    .option('--from <seq>', 'from this sequence number (inclusive)')
    .option('--to <seq>', 'up to this sequence number (exclusive)')
    .option('--out <file>', 'write to this file (0600) instead of stdout')
    .option('--server <url>', 'the server')
    .description('audit entries as NDJSON, one {"entry":{...},"leafIndex":n} per line (an unfiltered export verifies against a checkpoint)')
    .action(async (options: { run?: string; action?: string; actor?: string; since?: string; until?: string; from?: string; to?: string; out?: string; server?: string }) => {
      const filters: AuditEntryFilters = {
        ...(options.run ? { runId: options.run } : {}),
        ...(options.action ? { action: options.action as AuditAction } : {}),
        ...(options.actor ? { actor: options.actor } : {}),
        ...(options.since ? { since: options.since } : {}),
        ...(options.until ? { until: options.until } : {}),
        ...(options.from ? { from: Number(options.from) } : {}),
        ...(options.to ? { to: Number(options.to) } : {}),
      };
      let count = 0;
      const entries = clientOf(options.server).auditEntries(filters);
      async function* lines() {
        // Each line is written as @cairn/audit's log export writes it (canonical JSON).
        for await (const entry of entries) {
          count++;
          yield* exportLogNdjson([entry]);
        }
      }
      await writeChunks(lines(), options.out);
      if (options.out !== undefined) say(json() ? JSON.stringify({ out: options.out, entries: count }) : `wrote ${count} audit entries to ${options.out}`);
    });
  audit
    .command('bundle')
    .argument('<runId>', 'the run')
    .option('--out <file>', 'write to this file (0600) instead of stdout')
    .option('--server <url>', 'the server')
    .description("a run's evidence bundle (cairn.bundle/v1): verify it anywhere with cairn verify")
    .action(async (runId: string, options: { out?: string; server?: string }) => {
      const bundle = await clientOf(options.server).bundle(runId);
      await writeChunks([Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength).toString('utf8')], options.out);
      if (options.out !== undefined) say(json() ? JSON.stringify({ out: options.out, runId, bytes: bundle.byteLength }) : `wrote the evidence bundle of run ${runId} to ${options.out} (${bundle.byteLength} bytes); check it with cairn verify ${options.out}`);
    });
}
