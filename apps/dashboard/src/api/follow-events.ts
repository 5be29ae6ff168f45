import type { CairnEvent } from '@cairn/core';
import type { DashboardApi } from './dashboard-api.ts';

/**
 * Follows a server-sent event stream of the API (`/v1/events`, `/v1/runs/:runId/events`) and
 * calls `onEvent` for each event, in order, none twice. EventSource cannot send an Authorization
 * header (and the token must never go into the URL), so the stream is read with fetch; when it
 * drops it is opened again with `Last-Event-ID`, the last id seen, after a short pause. A run's
 * stream (`endsWhenClosed`) ends by itself after the run's terminal state: then `onEnd` is called.
 * Stops when `signal` aborts.
 */
export async function followEvents(
  api: DashboardApi,
  path: string,
  options: {
    readonly signal: AbortSignal;
    readonly onEvent: (event: CairnEvent) => void;
    /** The stream is open (again): the page is live. */
    readonly onOpen?: () => void;
    /** Follow only events after this id (see latestEventId); from the stream's beginning without it. */
    readonly after?: number | null;
    /** A run's stream: the server closing it means the run ended (a dropped connection throws instead). */
    readonly endsWhenClosed?: boolean;
    readonly onEnd?: () => void;
    readonly onError?: (error: unknown) => void;
  },
): Promise<void> {
  const { signal, onEvent } = options;
  let lastId: string | null = options.after === undefined || options.after === null ? null : String(options.after);
  let failures = 0;
  while (!signal.aborted) {
    try {
      const response = await api.request('GET', path, {
        signal,
        headers: { accept: 'text/event-stream', ...(lastId === null ? {} : { 'last-event-id': lastId }) },
      });
      failures = 0;
      options.onOpen?.();
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        // Events are separated by a blank line; a partial event waits for the next chunk.
        let boundary = buffer.search(/\r?\n\r?\n/);
        while (boundary !== -1) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, '');
          const event = parseBlock(block);
          if (event) {
            lastId = event.id;
            onEvent(JSON.parse(event.data) as CairnEvent);
          }
          boundary = buffer.search(/\r?\n\r?\n/);
        }
      }
      // A run's stream is closed by the server once the run has ended: nothing more will come.
      if (options.endsWhenClosed) {
        options.onEnd?.();
        return;
      }
    } catch (error) {
      if (signal.aborted) return;
      failures++;
      options.onError?.(error);
    }
    // Reconnect after a pause that grows with consecutive failures (0.5 s to 10 s).
    await pause(Math.min(10_000, 500 * 2 ** Math.min(failures, 5)), signal);
  }
}

/** One SSE block's `id:` and `data:` lines; comments (heartbeats) and blocks without data are null. */
function parseBlock(block: string): { id: string | null; data: string } | null {
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 ? null : { id, data: data.join('\n') };
}

function pause(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, milliseconds);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}
