import { Readable } from 'node:stream';
import { exportLogNdjson } from '@cairn/audit';
import type { AuditEntry } from '@cairn/core';
import { auditActions } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../../composition/server-composition.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { bytesAnswer } from '../../http/response-schemas.ts';

const sequenceNumber = z.coerce.number().int().min(0);
const isoTime = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time such as 2026-11-22T10:00:00Z' });
/** Lines are sent in chunks of about this many bytes: fewer writes than one per entry, still bounded. */
const chunkBytes = 64 * 1024;

/**
 * The audit log as NDJSON (`audit:read`): one `{"entry":{...},"leafIndex":n}` line per entry in
 * canonical JSON, the format of `@cairn/audit`'s log export, so each line's leaf hash recomputes
 * and an unfiltered export checks against a checkpoint with `verifyLog`. The log is read a page at
 * a time as the client takes it: a slow reader holds one page in the server, never the log.
 */
export function registerAuditRoutes(app: HttpApp, { service }: ServerComposition): void {
  app.get(
    '/v1/audit',
    {
      config: { action: 'audit.read' },
      schema: {
        operationId: 'exportAudit',
        summary: 'Audit entries as NDJSON, by seq range (from inclusive, to exclusive), run, action, actor id and time (since inclusive, until exclusive)',
        querystring: z.strictObject({
          from: sequenceNumber.optional(),
          to: sequenceNumber.optional(),
          runId: z.string().min(1).max(200).optional(),
          action: z.enum(auditActions).optional(),
          actor: z.string().min(1).max(200).optional(),
          since: isoTime.optional(),
          until: isoTime.optional(),
        }),
        response: { 200: bytesAnswer('application/x-ndjson', 'One {"entry":{...},"leafIndex":n} per line, in canonical JSON') },
      },
    },
    async (request, reply) => {
      const { from, to, runId, action, actor, since, until } = request.query;
      // Checked now, before the answer starts: a bad field is still a 400.
      const entries = service.auditEntries({
        ...(from === undefined ? {} : { from }),
        ...(to === undefined ? {} : { to }),
        ...(runId === undefined ? {} : { runId }),
        ...(action === undefined ? {} : { action }),
        ...(actor === undefined ? {} : { actorId: actor }),
        ...(since === undefined ? {} : { since }),
        ...(until === undefined ? {} : { until }),
      });
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(Readable.from(chunks(entries), { objectMode: false }));
    },
  );
}

// The export's lines (the format is `exportLogNdjson`'s), gathered into chunks.
async function* chunks(entries: AsyncIterable<AuditEntry>): AsyncGenerator<string> {
  let chunk = '';
  for await (const entry of entries) {
    for (const line of exportLogNdjson([entry])) chunk += line;
    if (chunk.length >= chunkBytes) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}
