import type { LiveLogState, Logger, LogStream, StorageProviderV1 } from '@cairn/core';
import { canonicalJsonBytes, liveLogSegmentBytes, liveLogSegmentKey, liveLogStateKey } from '@cairn/protocol';

interface StreamLog {
  /** Bytes kept so far (what the stored log will begin with). */
  bytes: number;
  /** Bytes already in storage. */
  written: number;
  /**
   * Kept bytes from the start of segment `pendingIndex` on, not all in storage yet, as they came
   * (joined once per write, not once per chunk: a chatty runtime writes many small chunks).
   */
  pending: Buffer[];
  pendingIndex: number;
  truncated: boolean;
  /** Whether the progress in storage says so already. */
  truncatedWritten: boolean;
}

/**
 * Makes a running attempt's output readable while it runs (ADR 0015): what each `LogCapture`
 * keeps (redacted, capped) is written to storage in fixed-size segments at most every
 * `intervalMs`, then the progress (`LiveLogState`), so readers in any process — the server, a
 * Fargate task's host — follow it through the storage they already share. One write at a time;
 * output that comes while one is under way goes in the next. A storage failure only ends the live
 * log (with a warning): the attempt and its stored log do not depend on it. Memory is what came
 * since the last write plus one segment per stream; storage is at most the log cap per stream,
 * and `remove` takes it away once the result record holds the log.
 */
export class LiveLogWriter {
  readonly #storage: StorageProviderV1;
  readonly #executionId: string;
  readonly #intervalMs: number;
  readonly #logger: Logger | undefined;
  readonly #streams: Record<LogStream, StreamLog> = { stdout: emptyStream(), stderr: emptyStream() };
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #closed = false;
  #everWritten = false;

  constructor(storage: StorageProviderV1, executionId: string, options: { readonly intervalMs: number; readonly logger?: Logger | undefined }) {
    this.#storage = storage;
    this.#executionId = executionId;
    this.#intervalMs = options.intervalMs;
    this.#logger = options.logger;
  }

  /** Bytes `stream`'s capture kept (already redacted), in order. */
  kept(stream: LogStream, bytes: Uint8Array): void {
    if (this.#closed || bytes.byteLength === 0) return;
    const log = this.#streams[stream];
    log.pending.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    log.bytes += bytes.byteLength;
    this.#schedule();
  }

  /** `stream`'s capture reached its cap and drops what comes. */
  dropped(stream: LogStream): void {
    if (this.#closed || this.#streams[stream].truncated) return;
    this.#streams[stream].truncated = true;
    this.#schedule();
  }

  /** Stops writing (waiting for a write under way): from here the stored log is the reference. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#writing;
  }

  /** Removes what was written (after `close`, once the result record holds the stored log). */
  async remove(): Promise<void> {
    if (!this.#everWritten) return;
    try {
      // The progress first: a reader that finds no progress reads nothing of the segments.
      await this.#storage.delete(liveLogStateKey(this.#executionId));
      for (const stream of ['stdout', 'stderr'] as const) {
        const segments = Math.ceil(this.#streams[stream].written / liveLogSegmentBytes);
        for (let index = 0; index < segments; index++) await this.#storage.delete(liveLogSegmentKey(this.#executionId, stream, index));
      }
    } catch (error) {
      this.#logger?.warn({ executionId: this.#executionId, error: String(error) }, 'could not remove the live log; it stays in storage under live-logs/');
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#writing !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#writing = this.#write().finally(() => {
        this.#writing = undefined;
        if (this.#dirty()) this.#schedule();
      });
    }, this.#intervalMs);
    // A pending write of live output must not keep a process alive that is otherwise done.
    this.#timer.unref();
  }

  #dirty(): boolean {
    return Object.values(this.#streams).some((log) => log.written < log.bytes || (log.truncated && !log.truncatedWritten));
  }

  async #write(): Promise<void> {
    try {
      const state: { -readonly [stream in LogStream]: LiveLogState[stream] } = {
        stdout: { bytes: 0, truncated: false },
        stderr: { bytes: 0, truncated: false },
      };
      for (const stream of ['stdout', 'stderr'] as const) {
        const log = this.#streams[stream];
        // Taken now: output that comes during the writes below waits for the next round.
        const taken = log.pending.length;
        const pending = Buffer.concat(log.pending);
        const upTo = log.pendingIndex * liveLogSegmentBytes + pending.byteLength;
        const truncated = log.truncated;
        for (let start = 0; start < pending.byteLength && log.written < upTo; start += liveLogSegmentBytes) {
          const index = log.pendingIndex + start / liveLogSegmentBytes;
          await this.#storage.put(liveLogSegmentKey(this.#executionId, stream, index), pending.subarray(start, start + liveLogSegmentBytes), {
            contentType: 'text/plain',
          });
        }
        log.written = upTo;
        // Only the last, unfilled segment is written again; earlier ones are final.
        const full = Math.floor(pending.byteLength / liveLogSegmentBytes);
        // Copied: a view would hold the whole joined buffer until the next write.
        const rest = Buffer.from(pending.subarray(full * liveLogSegmentBytes));
        log.pending = [...(rest.byteLength > 0 ? [rest] : []), ...log.pending.slice(taken)];
        log.pendingIndex += full;
        log.truncatedWritten = truncated;
        state[stream] = { bytes: upTo, truncated };
      }
      const record: LiveLogState = { version: 'cairn.live-log/v1', executionId: this.#executionId, ...state, updatedAt: new Date().toISOString() };
      await this.#storage.put(liveLogStateKey(this.#executionId), canonicalJsonBytes(record), { contentType: 'application/json' });
      this.#everWritten = true;
    } catch (error) {
      this.#everWritten = true;
      this.#closed = true;
      this.#logger?.warn(
        { executionId: this.#executionId, error: String(error) },
        'could not write the live log; the attempt goes on, and its log is stored when it ends',
      );
    }
  }
}

function emptyStream(): StreamLog {
  return { bytes: 0, written: 0, pending: [], pendingIndex: 0, truncated: false, truncatedWritten: false };
}
