import { writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import { LogSinkHealth } from './log-sink-health.ts';

/**
 * How long a healthy sink waits for a full pipe to take a line (a slow reader catching up) before
 * dropping it. A file descriptor Node shares with `process.stdout` is non-blocking once that
 * stream exists, so a full pipe answers EAGAIN instead of blocking.
 */
const fullPipeWaitMs = 1_000;
const fullPipePauseMs = 5;
const newline = 0x0a;

/**
 * Writes the server's log lines to a file descriptor (standard output or error), synchronously so
 * that no line is lost when the process exits, and never throws: a line the descriptor refuses (a
 * full disk, ENOSPC; a reader gone, EPIPE; a closed descriptor) is dropped and counted in
 * `health`, and the server goes on. A line cut short by the failure is ended before the next one,
 * so every line after it parses again once the sink writes again.
 */
export class FileDescriptorSink implements DestinationStream {
  readonly health: LogSinkHealth;
  readonly #descriptor: number;
  /** The last line was cut short: the next one starts on a new line. */
  #cut = false;

  constructor(descriptor: number, health: LogSinkHealth = new LogSinkHealth()) {
    this.#descriptor = descriptor;
    this.health = health;
  }

  write(text: string): void {
    const bytes = Buffer.from(this.#cut ? `\n${text}` : text);
    // Only a healthy sink waits out a full pipe: once it drops lines, waiting again for each of
    // them would hold up the whole server as long as the reader is stuck.
    const deadline = this.health.status().ok ? performance.now() + fullPipeWaitMs : 0;
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(this.#descriptor, bytes, offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code === 'EAGAIN' || code === 'EBUSY') && performance.now() < deadline) {
          pause(fullPipePauseMs);
          continue;
        }
        if (offset > 0) this.#cut = bytes[offset - 1] !== newline;
        this.health.dropped(error);
        return;
      }
    }
    this.#cut = false;
    this.health.written();
  }
}

function pause(milliseconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
}
