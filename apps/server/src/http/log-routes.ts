import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ItemLogLine } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import { itemLogLines } from '../item-logs/item-log-lines.ts';
import type { HttpApp } from './http-app.ts';
import { bytesAnswer } from './response-schemas.ts';
import { requireItem, requireRun } from './require-run.ts';

const params = z.strictObject({ runId: z.string().min(1).max(200), itemId: z.string().min(1).max(128) });
const querystring = z.strictObject({
  attempt: z.coerce.number().int().min(1).max(1_000_000).optional(),
  follow: z.enum(['true', 'false']).optional(),
  format: z.enum(['ndjson', 'text']).optional(),
  /** Resume: the bytes of each stream the reader already has (a cut follower reconnects with them). */
  stdoutFrom: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  stderrFrom: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});
const terminalItemStates = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);
const pollMs = 250;
const heartbeatMs = 15_000;
const recheckMs = 1_000;

/**
 * An item's output (`runs:read`): `GET /v1/runs/:runId/items/:itemId/logs`, of its latest attempt
 * or `?attempt=N`, as NDJSON (`{"stream":"stdout","text":...}` lines, then `{"end":{...}}` once the
 * attempt has ended) or `?format=text` (the output alone). With `?follow=true` the answer streams
 * until the attempt ends — waiting for the item's first attempt if it has none yet, or for attempt
 * N when it is the next one of an item that has not ended (a retry) — with an empty
 * line every 15 s while nothing comes; the token is checked again before each write and every
 * second, so a revoked one gets nothing more. `x-cairn-attempt` names the attempt. A reader whose
 * stream was cut asks again for that attempt with `?stdoutFrom=&stderrFrom=` (the bytes it has of each
 * stream; `notice` lines are not bytes of the stream) and gets the rest. Unknown run, item or attempt:
 * 404 naming it.
 */
export function registerLogRoutes(
  app: HttpApp,
  composition: ServerComposition,
  stillAllowed: (request: FastifyRequest) => (() => Promise<boolean>) | undefined,
): void {
  const { service, storage } = composition;
  app.get(
    '/v1/runs/:runId/items/:itemId/logs',
    {
      config: { action: 'runs.read' },
      schema: {
        operationId: 'getItemLogs',
        summary:
          "An item attempt's stdout and stderr (the latest attempt, or ?attempt=N); live while it runs, streamed to its end with ?follow=true; ?stdoutFrom=&stderrFrom= resume a cut stream at those byte offsets",
        params,
        querystring,
        response: {
          200: bytesAnswer(
            'application/x-ndjson',
            'One {"stream":"stdout"|"stderr","text":...} line per piece of output (with "notice":true for the server\'s own word about a stream, which is not its bytes), then {"end":{"attempt","state","exitCode","finishedAt"}} once the attempt has ended; text/plain with ?format=text. x-cairn-attempt names the attempt',
          ),
        },
      },
    },
    async (request, reply) => {
      const { runId, itemId } = request.params;
      const follow = request.query.follow === 'true';
      const format = request.query.format ?? 'ndjson';
      const controller = new AbortController();
      request.raw.on('close', () => controller.abort());
      await requireRun(service, runId);
      const attempt = await chooseAttempt(composition, runId, itemId, request.query.attempt, follow, request, controller.signal);
      if (!attempt) return reply;
      await streamLines(
        request,
        reply,
        attempt.attempt,
        format,
        itemLogLines({
          service,
          storage,
          attempt,
          follow,
          signal: controller.signal,
          pollMs,
          from: { stdout: request.query.stdoutFrom ?? 0, stderr: request.query.stderrFrom ?? 0 },
        }),
        controller.signal,
        stillAllowed(request),
      );
      return reply;
    },
  );
}

/** The attempt asked for (or the latest); with follow, waits for the item's first one. */
async function chooseAttempt(
  { service }: ServerComposition,
  runId: string,
  itemId: string,
  wanted: number | undefined,
  follow: boolean,
  request: FastifyRequest,
  signal: AbortSignal,
) {
  for (;;) {
    const item = await requireItem(service, runId, itemId);
    const attempts = await service.attempts(runId, itemId);
    if (wanted !== undefined) {
      const found = attempts.find((attempt) => attempt.attempt === wanted);
      if (found) return found;
      // Following the next attempt of an item that will make one (a retry after a failure) waits for it.
      const next = wanted === attempts.length + 1 && follow && !terminalItemStates.has(item.state);
      if (next) {
        if (!(await waitABit(request, signal))) return undefined;
        continue;
      }
      throw new CairnError(
        'CAIRN_NOT_FOUND',
        `Item ${itemId} of run ${runId} has no attempt ${wanted}: ${attempts.length === 0 ? 'it has not started one' : `its attempts are 1 to ${attempts.length}`}.`,
        { path: 'attempt' },
      );
    }
    const latest = attempts.at(-1);
    if (latest) return latest;
    if (!follow || terminalItemStates.has(item.state)) {
      throw new CairnError(
        'CAIRN_NOT_FOUND',
        `Item ${itemId} of run ${runId} has no attempt, so no output: it is ${item.state}${terminalItemStates.has(item.state) ? ' and never ran' : '; pass follow=true to wait for it to start'}.`,
        { path: 'itemId' },
      );
    }
    if (!(await waitABit(request, signal))) return undefined;
  }
}

/** Waits a poll interval for an attempt to start; false when the client went away meanwhile. */
async function waitABit(request: FastifyRequest, signal: AbortSignal): Promise<boolean> {
  // Waiting for the item to start is not idleness: the connection's idle timeout is not this request's.
  request.raw.socket.setTimeout(0);
  await new Promise((resolve) => setTimeout(resolve, pollMs));
  return !signal.aborted;
}

async function streamLines(
  request: FastifyRequest,
  reply: FastifyReply,
  attempt: number,
  format: 'ndjson' | 'text',
  lines: AsyncGenerator<ItemLogLine>,
  signal: AbortSignal,
  stillAllowed: (() => Promise<boolean>) | undefined,
): Promise<void> {
  reply.hijack();
  request.raw.socket.setTimeout(0);
  reply.raw.writeHead(200, {
    'content-type': format === 'text' ? 'text/plain; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
    'x-cairn-attempt': String(attempt),
    'x-accel-buffering': 'no',
  });
  // An empty NDJSON line while nothing happens keeps proxies and idle timeouts from closing the stream.
  const heartbeat = setInterval(() => {
    if (format === 'ndjson' && !reply.raw.writableNeedDrain) reply.raw.write('\n');
  }, heartbeatMs);
  heartbeat.unref();
  // The token is asked again every second too, so a revoked one's stream ends even while the
  // attempt is silent (the token store rereads its file only when the file changed).
  const recheck =
    stillAllowed === undefined
      ? undefined
      : setInterval(() => {
          void stillAllowed().then(
            (allowed) => {
              if (!allowed) reply.raw.destroy();
            },
            () => reply.raw.destroy(),
          );
        }, recheckMs);
  recheck?.unref();
  const write = async (text: string) => {
    if (reply.raw.write(text)) return;
    await new Promise<void>((resolve) => {
      reply.raw.once('drain', resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  };
  try {
    for await (const line of lines) {
      if (stillAllowed && !(await stillAllowed())) break;
      if (format === 'ndjson') await write(`${JSON.stringify(line)}\n`);
      else if ('text' in line) await write(line.text);
    }
  } catch (error) {
    // The answer has begun: the error goes in the stream (NDJSON), in the server's log either way.
    const cairn = isCairnError(error) ? error : new CairnError('CAIRN_INTERNAL', 'The server failed while reading the log; the details are in its log.');
    if (!isCairnError(error)) request.log.error({ error: (error as Error).stack ?? String(error) }, 'reading an item log failed');
    if (format === 'ndjson') reply.raw.write(`${JSON.stringify({ error: { code: cairn.code, message: cairn.message, action: cairn.action } })}\n`);
  } finally {
    clearInterval(heartbeat);
    clearInterval(recheck);
    reply.raw.end();
  }
}
