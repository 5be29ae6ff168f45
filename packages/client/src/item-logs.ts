// An item's output as the client follows it: NDJSON lines, a stream cut mid-way asked for again for
// the same attempt from the bytes already yielded, notices said once.
import type { ItemLogLine, LogStream } from '@cairn/core';
import { CairnError, errorCodes, isCairnError, type CairnErrorCode } from '@cairn/protocol/errors';
import { itemPath, query, type ClientTransport } from './client-transport.ts';
import type { HttpAnswer } from './http-answer.ts';
import { delay } from './reconnect-delay.ts';
import { textRecords } from './text-records.ts';

/** `CairnHttpClient.logs`: an item's log lines, of its latest attempt or `attempt`, followed through reconnects. */
export async function* followItemLogs(
  transport: ClientTransport,
  runId: string,
  itemId: string,
  options: { readonly attempt?: number; readonly follow?: boolean; readonly signal?: AbortSignal } = {},
): AsyncGenerator<ItemLogLine> {
  let attempt = options.attempt;
  const received: Record<LogStream, number> = { stdout: 0, stderr: 0 };
  const noticed = new Set<LogStream>();
  const encoder = new TextEncoder();
  let failedConnects = 0;
  for (;;) {
    let response: HttpAnswer;
    try {
      const parameters = query({
        attempt,
        follow: options.follow ? 'true' : undefined,
        stdoutFrom: received.stdout || undefined,
        stderrFrom: received.stderr || undefined,
      });
      response = await transport.request('GET', `${itemPath(runId, itemId)}/logs${parameters}`, undefined, {}, options.signal);
    } catch (error) {
      // Only a reconnect is retried: the first request's failure is the caller's to see.
      if (attempt === undefined || !isCairnError(error, 'CAIRN_SERVER_UNREACHABLE') || options.signal?.aborted) throw error;
      failedConnects += 1;
      if (failedConnects > transport.settings.reconnectAttempts) {
        throw new CairnError('CAIRN_SERVER_UNREACHABLE', `${error.message} (gave up following the log after ${failedConnects} attempts in a row)`, {
          path: 'baseUrl',
          cause: error,
        });
      }
      await delay(transport.settings.reconnectDelayMs);
      continue;
    }
    failedConnects = 0;
    // The attempt the server chose (the latest, when none was named): a reconnect asks for the same one.
    attempt ??= Number(response.headers.get('x-cairn-attempt'));
    try {
      // Empty lines are the server's keep-alives.
      for await (const text of textRecords(response.body, '\n', { trailing: true })) {
        if (text === '') continue;
        const line = JSON.parse(text) as ItemLogLine | { error: { code: string; message: string } };
        if ('error' in line) {
          const code = (errorCodes as readonly string[]).includes(line.error.code) ? (line.error.code as CairnErrorCode) : 'CAIRN_INTERNAL';
          throw new CairnError(code, line.error.message);
        }
        if ('stream' in line) {
          // A notice is said once, however often the stream is resumed; it is not bytes of the stream.
          if (line.notice) {
            if (noticed.has(line.stream)) continue;
            noticed.add(line.stream);
          } else received[line.stream] += encoder.encode(line.text).byteLength;
        }
        yield line;
      }
      return;
    } catch (error) {
      // A stream cut mid-body is reopened where it got to; an error the server reported is not.
      if (isCairnError(error) || options.signal?.aborted) throw error;
    }
    await delay(transport.settings.reconnectDelayMs);
  }
}
