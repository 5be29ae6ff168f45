import type { AuditEntry } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import type { GitHubApiServer } from '../../../../../../packages/github-forge/src/github-api.test-support.ts';

/** The audit entries of `action`, oldest first. */
export async function auditEntriesOf(service: Pick<EngineService, 'auditEntries'>, action: string): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  for await (const entry of service.auditEntries({ action })) found.push(entry);
  return found;
}

/** The run's evidence bundle, once a checkpoint covers its end (issued as the run ends). */
export async function bundleOf(service: Pick<EngineService, 'exportBundle'>, runId: string): Promise<unknown> {
  for (let tries = 0; ; tries += 1) {
    try {
      return await service.exportBundle(runId);
    } catch (error) {
      if (tries > 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Waits for the reply the loop posts on `repository`'s pull request 1 when run `runId` ends, and answers it. */
export async function replyTo(github: GitHubApiServer, repository: string, runId: string): Promise<string> {
  for (let waited = 0; waited < 200; waited += 1) {
    const reply = github.comments(repository, 1).find((comment) => comment.startsWith('Follow-up for') && comment.includes(runId));
    if (reply !== undefined) return reply;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no reply to run ${runId}: ${JSON.stringify(github.comments(repository, 1))}`);
}
