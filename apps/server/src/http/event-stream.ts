import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CairnEvent } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { cairnEventSchema, isTerminalState, runTransitions } from '@cairn/protocol';
import { z } from 'zod';
import { requireRun } from './require-run.ts';

/** Every event type a stream carries, in the catalogue's order. */
export const eventTypes: readonly CairnEvent['type'][] = cairnEventSchema.options.map((option) => option.shape.type.value);

/**
 * The query of an event stream. `types` keeps only events of those types (comma-separated): a
 * client that needs to know when a run ends (`cairn submit --wait --quiet`) asks for `run.state`
 * and is sent a handful of events, not the five of every item. Event ids stay the audit sequence,
 * so resuming after the last one received skips nothing it asked for. Other parameters are
 * ignored, as they always were.
 */
export const eventStreamQuery = z.object({
  after: z.string().optional().describe('Send only events whose id is greater than this (an audit sequence number); Last-Event-ID takes precedence'),
  types: z
    .string()
    .refine(
      (list) => list.split(',').every((type) => (eventTypes as readonly string[]).includes(type)),
      `names an event type that does not exist: give a comma-separated list of ${eventTypes.join(', ')}`,
    )
    .optional()
    .describe(`Send only events of these types, comma-separated (${eventTypes.join(', ')}); every type by default`),
});

/**
 * Streams engine events as server-sent events: `id:` is the event id (the audit sequence), so a
 * client that reconnects with `Last-Event-ID` (or `?after=`) gets every event after it, none twice.
 * The engine's stream reads at this client's pace: a slow client holds no buffer in the server and
 * stalls nobody; a disconnect ends its stream. A run's stream ends after the run's terminal state,
 * or, for a run that has ended, after its last event after the one asked for.
 */
export async function streamEvents(
  service: Pick<EngineService, 'run' | 'events'>,
  request: FastifyRequest,
  reply: FastifyReply,
  options: { readonly runId?: string; readonly stillAllowed?: (() => Promise<boolean>) | undefined } = {},
): Promise<void> {
  const { runId, stillAllowed } = options;
  // Listened for before the first await: a client gone while the run is looked up ends its stream.
  const controller = new AbortController();
  request.raw.on('close', () => controller.abort());
  // A run that has ended has all its events: its stream reads them and ends, even when it resumes
  // past its terminal state (which it then never sees, so it would otherwise wait for ever).
  const ended = runId !== undefined && isTerminalState(runTransitions, (await requireRun(service, runId)).state);
  const header = request.headers['last-event-id'];
  const { after: query, types } = request.query as z.infer<typeof eventStreamQuery>;
  const after = Number(typeof header === 'string' && header !== '' ? header : (query ?? -1));
  const wanted = types === undefined ? undefined : new Set(types.split(',') as CairnEvent['type'][]);
  reply.hijack();
  // A stream waits for events as long as it is open: the idle timeout of other connections is not its.
  request.raw.socket.setTimeout(0);
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  reply.raw.write(': cairn events\n\n');
  // A comment every 15 s while nothing happens: the connection is never idle (the server's idle
  // timeout, proxies), and a client learns quickly that a silent server is gone.
  const heartbeat = setInterval(() => {
    if (!reply.raw.writableNeedDrain) reply.raw.write(': keep-alive\n\n');
  }, heartbeatMs);
  heartbeat.unref();
  // Events that come together (a page the engine read) leave in one socket write, not one each:
  // the socket is corked at the first and uncorked once this tick's events are written.
  let corked = false;
  const uncork = () => {
    corked = false;
    reply.raw.uncork();
  };
  try {
    for await (const event of service.events({
      after: Number.isSafeInteger(after) ? after : -1,
      signal: controller.signal,
      ...(ended ? { follow: false } : {}),
      ...(runId === undefined ? {} : { runId }),
      // The engine reads only the entries of the wanted types (a `run.state` stream of a 10,000-item
      // run read and parsed its 50,000 entries to send a handful); a run's stream reads its run's
      // states too, whatever it asked for, to end with the run.
      ...(wanted === undefined ? {} : { types: [...wanted, ...(runId === undefined || wanted.has('run.state') ? [] : ['run.state' as const])] }),
    })) {
      // A run's stream ends with the run: its terminal state is the last event it will ever have.
      const last = runId !== undefined && event.type === 'run.state' && isTerminalState(runTransitions, event.state);
      // Events the client did not ask for are not written (nor is the credential asked for them);
      // the stream still ends with the run.
      if (wanted !== undefined && !wanted.has(event.type)) {
        if (last) break;
        continue;
      }
      // The credential is asked again before each write: a token revoked while its stream is open
      // gets nothing more (the token store rereads its file only when the file changed). Events
      // of one tick leave in one write, so they are asked for once (with 1,000 streams, once per
      // event was most of the fan-out's work).
      if (!corked && stillAllowed && !(await stillAllowed())) break;
      if (!corked) {
        corked = true;
        reply.raw.cork();
        process.nextTick(uncork);
      }
      // Respect backpressure: wait for the socket to drain rather than buffer without bound.
      if (!reply.raw.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)) {
        await new Promise<void>((resolve) => {
          reply.raw.once('drain', resolve);
          controller.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      if (last) break;
    }
  } finally {
    clearInterval(heartbeat);
    // What this tick corked leaves before the end.
    if (corked) uncork();
    reply.raw.end();
  }
}

const heartbeatMs = 15_000;
