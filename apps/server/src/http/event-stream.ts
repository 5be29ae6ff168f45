import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Engine } from '@cairn/engine';

/**
 * Streams engine events as server-sent events: `id:` is the event id (the audit sequence), so a
 * client that reconnects with `Last-Event-ID` (or `?after=`) gets every event after it, none twice.
 * The engine's stream reads at this client's pace: a slow client holds no buffer in the server and
 * stalls nobody; a disconnect ends its stream.
 */
export async function streamEvents(engine: Engine, request: FastifyRequest, reply: FastifyReply, runId?: string): Promise<void> {
  const header = request.headers['last-event-id'];
  const query = (request.query as { after?: string }).after;
  const after = Number(typeof header === 'string' && header !== '' ? header : (query ?? -1));
  const controller = new AbortController();
  request.raw.on('close', () => controller.abort());
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  reply.raw.write(': cairn events\n\n');
  // Events that come together (a page the engine read) leave in one socket write, not one each:
  // the socket is corked at the first and uncorked once this tick's events are written.
  let corked = false;
  const uncork = () => {
    corked = false;
    reply.raw.uncork();
  };
  try {
    for await (const event of engine.events({ after: Number.isSafeInteger(after) ? after : -1, signal: controller.signal, ...(runId === undefined ? {} : { runId }) })) {
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
    }
  } finally {
    reply.raw.end();
  }
}
