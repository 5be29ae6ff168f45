import { TextDecoder } from 'node:util';
import type { AttemptState, ItemLogLine, LogStream, StorageProviderV1 } from '@cairn/core';
import type { EngineService, ItemAttemptRecord } from '@cairn/engine';
import { blobKey, CairnError, liveLogSegmentBytes, liveLogSegmentKey, liveLogStateKey, liveLogStateSchema } from '@cairn/protocol';

export interface ItemLogLinesOptions {
  /** Where the attempt's state is read (it says when the attempt has ended, and where its stored logs are). */
  readonly service: Pick<EngineService, 'attempts'>;
  readonly storage: StorageProviderV1;
  readonly attempt: ItemAttemptRecord;
  /** Go on until the attempt ends; otherwise stop after what is there now. */
  readonly follow: boolean;
  readonly signal?: AbortSignal;
  /** How often the live log is read again while following. */
  readonly pollMs?: number;
  /** Where each stream begins, in bytes: a reader whose stream was cut resumes where it got to. */
  readonly from?: Readonly<Record<LogStream, number>>;
}

const streams = ['stdout', 'stderr'] as const;
const endedStates: ReadonlySet<AttemptState> = new Set(['succeeded', 'failed', 'timed-out', 'cancelled', 'lost']);

/**
 * The output of one attempt (ADR 0015): while it runs, what its worker has written to the live log
 * in storage; once the engine records its end, the rest from the stored logs, going on at the offset
 * the live log reached (the stored log begins with the same bytes), then an `end` line. A lost
 * attempt has no stored logs: its live log is all there is. Output is redacted and capped by the
 * worker; a stream that reached the cap gets one notice line while it runs (the stored log ends
 * with its own marker). Text is UTF-8, a character split between reads is kept whole.
 */
export async function* itemLogLines(options: ItemLogLinesOptions): AsyncGenerator<ItemLogLine> {
  const { service, storage, signal } = options;
  const { runId, itemId, attempt: number, executionId } = options.attempt;
  const offsets: Record<LogStream, number> = { stdout: options.from?.stdout ?? 0, stderr: options.from?.stderr ?? 0 };
  const decoders: Record<LogStream, TextDecoder> = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  const noticed: Record<LogStream, boolean> = { stdout: false, stderr: false };
  const lines = (stream: LogStream, bytes: Uint8Array | undefined, final = false): ItemLogLine[] => {
    if (bytes) offsets[stream] += bytes.byteLength;
    const text = decoders[stream].decode(bytes, { stream: !final });
    return text === '' ? [] : [{ stream, text }];
  };
  for (;;) {
    if (signal?.aborted) return;
    const current = (await service.attempts(runId, itemId)).find((attempt) => attempt.attempt === number);
    if (!current) throw new CairnError('CAIRN_NOT_FOUND', `Attempt ${number} of item ${itemId} of run ${runId} is gone.`, { path: 'attempt' });
    if (endedStates.has(current.state)) {
      for (const stream of streams) {
        const digest = current.artifacts?.[stream];
        const rest = digest === undefined ? await readLive(storage, executionId, stream, offsets[stream]) : await readStored(storage, digest, offsets[stream]);
        yield* lines(stream, rest);
        yield* lines(stream, undefined, true);
      }
      // An attempt's failure (code, message, rule, ...), when it did not succeed, ends the log too.
      const { failure } = current;
      yield { end: { attempt: number, state: current.state, exitCode: current.exitCode, finishedAt: current.finishedAt, ...(failure ? { failure } : {}) } };
      return;
    }
    // One read of the progress per round: both streams up to what it counts.
    const progress = await readProgress(storage, executionId);
    for (const stream of progress ? streams : []) {
      yield* lines(stream, await readLive(storage, executionId, stream, offsets[stream], progress![stream].bytes));
      if (progress![stream].truncated && !noticed[stream] && offsets[stream] >= progress![stream].bytes) {
        noticed[stream] = true;
        yield* lines(stream, undefined, true);
        yield {
          stream,
          notice: true,
          text: `\n[cairn] ${stream} reached limits.maxLogBytes (${progress![stream].bytes} bytes): the rest is not kept; the stored log says how much was dropped when the attempt ends\n`,
        };
      }
    }
    if (!options.follow) {
      for (const stream of streams) yield* lines(stream, undefined, true);
      return;
    }
    await sleep(options.pollMs ?? 250, signal);
  }
}

/** The live log's progress; undefined before the first write and after the worker removed it. */
async function readProgress(storage: StorageProviderV1, executionId: string) {
  const bytes = await storage.get(liveLogStateKey(executionId));
  if (bytes === null) return undefined;
  return liveLogStateSchema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
}

/**
 * The live bytes of `stream` from `from` up to `to` (by default what the progress counts): only
 * bytes without a gap, so a segment removed meanwhile ends the read early (the stored log has it).
 */
async function readLive(storage: StorageProviderV1, executionId: string, stream: LogStream, from: number, to?: number): Promise<Uint8Array | undefined> {
  const upTo = to ?? (await readProgress(storage, executionId))?.[stream].bytes ?? 0;
  const parts: Buffer[] = [];
  let position = from;
  while (position < upTo) {
    const index = Math.floor(position / liveLogSegmentBytes);
    const segment = await storage.get(liveLogSegmentKey(executionId, stream, index));
    const segmentStart = index * liveLogSegmentBytes;
    const available = segment === null ? 0 : Math.min(segment.byteLength, upTo - segmentStart);
    if (available <= position - segmentStart) break;
    parts.push(Buffer.from(segment!.subarray(position - segmentStart, available)));
    position = segmentStart + available;
  }
  return parts.length === 0 ? undefined : Buffer.concat(parts);
}

/** The stored log of an ended attempt from `from` on. */
async function readStored(storage: StorageProviderV1, digest: string, from: number): Promise<Uint8Array | undefined> {
  const bytes = await storage.get(blobKey(digest));
  if (bytes === null) throw new CairnError('CAIRN_NOT_FOUND', `The stored log ${digest} is not in storage.`, { path: 'attempt' });
  return bytes.byteLength > from ? bytes.subarray(from) : undefined;
}

function sleep(milliseconds: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, milliseconds);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
