import type { AuditLog } from './audit-log.ts';
import type { EngineAuditLog } from './engine-audit-log.ts';

/**
 * The face of an audit log that only reads (`engine.audit`): the log's own read methods, and no
 * `append`, not even at run time. A host writes the entries it owns through the engine service's
 * `hostAudit`; every other entry is the engine's, written in the transaction of its change.
 */
export function readOnlyAuditLog(log: AuditLog): EngineAuditLog {
  // The tree too: its own `append` would write a leaf no entry stands for.
  const merkle: EngineAuditLog['merkle'] = Object.freeze({
    get size() {
      return log.merkle.size;
    },
    rootHash: (...args: Parameters<EngineAuditLog['merkle']['rootHash']>) => log.merkle.rootHash(...args),
    leafHash: (...args: Parameters<EngineAuditLog['merkle']['leafHash']>) => log.merkle.leafHash(...args),
    inclusionProof: (...args: Parameters<EngineAuditLog['merkle']['inclusionProof']>) => log.merkle.inclusionProof(...args),
    consistencyProof: (...args: Parameters<EngineAuditLog['merkle']['consistencyProof']>) => log.merkle.consistencyProof(...args),
  });
  return Object.freeze({
    merkle,
    get size() {
      return log.size;
    },
    entries: (fromSeq?: number, pageSize?: number) => log.entries(fromSeq, pageSize),
    query: (query?: Parameters<AuditLog['query']>[0]) => log.query(query),
    page: (fromSeq: number, limit: number, actions?: readonly string[]) => log.page(fromSeq, limit, actions),
    runEntriesAfter: (runId: string, afterSeq: number, limit: number, actions?: readonly string[]) => log.runEntriesAfter(runId, afterSeq, limit, actions),
    nextAppend: (signal?: AbortSignal) => log.nextAppend(signal),
    runEntries: (runId: string) => log.runEntries(runId),
  });
}
