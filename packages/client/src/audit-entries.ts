// The audit log as the client reads it: filters, and the server's NDJSON export read line by line,
// each line's leafIndex checked against its entry's seq.
import type { AuditAction, AuditEntry } from '@cairn/core';
import { CairnError } from '@cairn/protocol/errors';
import { query, type ClientTransport } from './client-transport.ts';
import { textRecords } from './text-records.ts';

/** Which audit entries to read: a seq range (`from` inclusive, `to` exclusive), a run, an action, an actor id, a time range (`since` inclusive, `until` exclusive). */
export interface AuditEntryFilters {
  readonly from?: number;
  readonly to?: number;
  readonly runId?: string;
  readonly action?: AuditAction;
  readonly actor?: string;
  readonly since?: string;
  readonly until?: string;
}

/** `CairnHttpClient.auditEntries`: the entries the filters select, in log order, as the caller takes them. */
export async function* readAuditEntries(
  transport: ClientTransport,
  filters: AuditEntryFilters,
  options: { readonly signal?: AbortSignal },
): AsyncGenerator<AuditEntry> {
  const response = await transport.request('GET', `/v1/audit${query(filters)}`, undefined, {}, options.signal);
  let lineNumber = 0;
  const entryOf = (line: string): AuditEntry => {
    lineNumber++;
    let value: { entry?: AuditEntry; leafIndex?: unknown };
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `Line ${lineNumber} of the audit export is not JSON.`, { path: `line ${lineNumber}`, cause: error });
    }
    if (typeof value?.entry !== 'object' || value.entry === null || value.leafIndex !== value.entry.seq) {
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        `Line ${lineNumber} of the audit export is not {"entry":{...},"leafIndex":n} with leafIndex equal to the entry's seq.`,
        { path: `line ${lineNumber}` },
      );
    }
    return value.entry;
  };
  // NDJSON: a line per entry; the last may end the body without a newline.
  for await (const line of textRecords(response.body, '\n', { trailing: true })) if (line !== '') yield entryOf(line);
}
