// A server's events as the client follows them: Server-Sent Events parsed to the WHATWG spec, a
// dropped connection reopened with Last-Event-ID (nothing missed, nothing repeated), a run's stream
// ended with the run.
import type { CairnEvent, RunState } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol/errors';
import type { EventSourceMessage } from 'eventsource-parser';
import type { ClientTransport } from './client-transport.ts';
import type { HttpAnswer } from './http-answer.ts';
import { delay } from './reconnect-delay.ts';

/** The states a run ends in. */
export const terminalRunStates: ReadonlySet<RunState> = new Set<RunState>(['succeeded', 'failed', 'cancelled']);

/** `CairnHttpClient.events`: the events of one run or all, followed through reconnects. */
export async function* followEvents(
  transport: ClientTransport,
  options: { readonly runId?: string; readonly after?: number; readonly signal?: AbortSignal; readonly types?: readonly CairnEvent['type'][] } = {},
): AsyncGenerator<CairnEvent> {
  let last = options.after ?? -1;
  const wanted = options.types === undefined ? undefined : new Set<string>(options.types);
  // A run's stream is asked for its run.state events too, whatever `types` says: its terminal
  // one is how this loop knows the run, and so the stream, ended (it is yielded only if asked for).
  const asked = wanted === undefined ? undefined : options.runId === undefined ? [...wanted] : [...new Set([...wanted, 'run.state'])];
  const stream = options.runId === undefined ? '/v1/events' : `/v1/runs/${encodeURIComponent(options.runId)}/events`;
  const path = asked === undefined ? stream : `${stream}?types=${asked.join(',')}`;
  let failedConnects = 0;
  let reconnectDelayMs = transport.settings.reconnectDelayMs;
  while (!options.signal?.aborted) {
    try {
      let response: HttpAnswer;
      try {
        response = await transport.request('GET', path, undefined, { 'last-event-id': String(last) }, options.signal);
      } catch (error) {
        if (!isCairnError(error, 'CAIRN_SERVER_UNREACHABLE') || options.signal?.aborted) throw error;
        failedConnects += 1;
        if (failedConnects > transport.settings.reconnectAttempts) {
          throw new CairnError('CAIRN_SERVER_UNREACHABLE', `${error.message} (gave up following events after ${failedConnects} attempts in a row)`, {
            path: 'baseUrl',
            cause: error,
          });
        }
        await delay(reconnectDelayMs);
        continue;
      }
      failedConnects = 0;
      // A spec-compliant parser (CR, LF or CRLF lines, multi-line data, comments, retry): an event
      // cut off by a dropped connection is never emitted, and comes again after the reconnect,
      // which resumes after the last one yielded.
      for await (const message of await serverSentEvents(response.body, (retry) => (reconnectDelayMs = Math.min(retry, maxReconnectDelayMs)))) {
        const event = eventOf(message, path);
        last = event.id;
        // A server older than `types` sends every event: the ones not asked for are dropped here.
        if (wanted === undefined || wanted.has(event.type)) yield event;
        // A run's stream ends with the run: nothing follows its terminal state.
        if (options.runId !== undefined && event.type === 'run.state' && terminalRunStates.has(event.state)) return;
      }
    } catch (error) {
      if (options.signal?.aborted) return;
      // A stream cut mid-body is reopened; an answer the server gave (401, 404, ...) is not.
      if (isCairnError(error) && error.code !== 'CAIRN_INTERNAL') throw error;
    }
    await delay(reconnectDelayMs);
  }
}

/** A Cairn event from its server-sent message; a message that is not one is the server's fault, said so. */
function eventOf(message: EventSourceMessage, path: string): CairnEvent {
  let value: { id?: unknown; type?: unknown } | null;
  try {
    value = JSON.parse(message.data);
  } catch (error) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `An event from ${path} (id ${JSON.stringify(message.id)}) has data that is not JSON; is this a Cairn server?`,
      { path, cause: error },
    );
  }
  if (typeof value?.id !== 'number' || typeof value.type !== 'string') {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `An event from ${path} (id ${JSON.stringify(message.id)}) is not a Cairn event {id, type, ...}; is this a Cairn server?`,
      { path },
    );
  }
  return value as CairnEvent;
}

/**
 * The server-sent events of a response body, parsed as the WHATWG spec says. The parser (and the
 * web streams it extends) loads with the first stream, not with every client: a `cairn` command
 * that reads one run starts without it.
 */
async function serverSentEvents(body: AsyncIterable<Uint8Array>, onRetry: (retry: number) => void): Promise<AsyncIterable<EventSourceMessage>> {
  const { EventSourceParserStream } = await import('eventsource-parser/stream');
  // maxBufferSize: one event is a few hundred bytes; a stream that never ends a line is not SSE.
  const parser = new EventSourceParserStream({ onRetry, maxBufferSize: 1 << 20 });
  return ReadableStream.from(body).pipeThrough(new TextDecoderStream()).pipeThrough(parser) as unknown as AsyncIterable<EventSourceMessage>;
}

// A server may ask for a slower reconnect (`retry:`); not for one slower than this.
const maxReconnectDelayMs = 30_000;
