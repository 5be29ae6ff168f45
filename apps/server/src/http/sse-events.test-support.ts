import type { CairnEvent } from '@cairn/core';

/** One event of a stream, with the `id:` the server gave it (what a client resumes from). */
export interface StreamedEvent {
  readonly id: number | undefined;
  readonly event: CairnEvent;
}

/**
 * The events of a server-sent event stream's body, in order: blocks without data (keep-alive
 * comments) are skipped. `beforeRead` runs before each chunk is taken, to play a slow or stalled
 * reader. A stream cut by the server ends the loop with the fetch's error; leaving the loop early
 * cancels the body.
 */
export async function* sseEvents(body: ReadableStream<Uint8Array>, beforeRead?: () => Promise<void>): AsyncGenerator<StreamedEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      await beforeRead?.();
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        const data = lines.find((line) => line.startsWith('data: '));
        if (data === undefined) continue;
        const id = lines.find((line) => line.startsWith('id: '));
        yield { id: id === undefined ? undefined : Number(id.slice('id: '.length)), event: JSON.parse(data.slice('data: '.length)) as CairnEvent };
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
