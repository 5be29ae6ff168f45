import type { LogStream } from '@cairn/core';
import { SecretRedactor } from './secret-redactor.ts';

/** Told what a capture keeps as it keeps it, and when it first drops bytes (the live log). */
export interface LogCaptureObserver {
  kept(stream: LogStream, bytes: Uint8Array): void;
  dropped(stream: LogStream): void;
}

/** How much of a stream's end is kept for a failure's `stderrTail`. */
const tailBytes = 2048;

/**
 * One output stream of an attempt as it is stored: secret values redacted first, then the first
 * `maxBytes` bytes kept and, when there was more, a marker line saying how much was dropped
 * (the stored log is at most `maxBytes` plus that line). Memory stays at `maxBytes`, however much
 * the runtime writes.
 */
export class LogCapture {
  readonly #name: LogStream;
  readonly #maxBytes: number;
  readonly #redactor: SecretRedactor;
  readonly #kept: Buffer[] = [];
  #keptBytes = 0;
  #totalBytes = 0;
  readonly #observer: LogCaptureObserver | undefined;
  /** The last bytes written (after redaction), for a failure's `stderrTail`: the stored log keeps the first ones. */
  #tail: Buffer = Buffer.alloc(0);

  /** `observer` sees exactly the bytes `finish` will return, before its truncation marker. */
  constructor(name: LogStream, maxBytes: number, secrets: Readonly<Record<string, string>>, observer?: LogCaptureObserver) {
    this.#name = name;
    this.#observer = observer;
    this.#maxBytes = maxBytes;
    this.#redactor = new SecretRedactor(secrets);
  }

  write(chunk: Uint8Array): void {
    this.#keep(this.#redactor.write(chunk));
  }

  /** Bytes the runtime wrote, after redaction. */
  get totalBytes(): number {
    return this.#totalBytes;
  }

  /** The stored form: kept bytes, then the truncation marker when something was dropped. */
  finish(): Uint8Array {
    this.#keep(this.#redactor.end());
    const parts = [...this.#kept];
    if (this.#totalBytes > this.#keptBytes) {
      parts.push(Buffer.from(`\n[cairn] ${this.#name} truncated: kept the first ${this.#keptBytes} of ${this.#totalBytes} bytes (limits.maxLogBytes)\n`));
    }
    const bytes = Buffer.concat(parts);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * The last `maxBytes` (or a few fewer: whole UTF-8 characters) the runtime wrote, redacted, as
   * text; read after `finish`. At most `tailBytes` are held, however much was written.
   */
  tail(maxBytes = tailBytes): string {
    let start = Math.max(0, this.#tail.byteLength - maxBytes);
    // Not from the middle of a character: skip continuation bytes (10xxxxxx).
    while (start < this.#tail.byteLength && (this.#tail[start]! & 0xc0) === 0x80) start++;
    return this.#tail.subarray(start).toString('utf8');
  }

  #keep(bytes: Buffer): void {
    // Copied either way: the chunk's buffer may be reused, and a big one must not be held.
    if (bytes.byteLength >= tailBytes) this.#tail = Buffer.from(bytes.subarray(bytes.byteLength - tailBytes));
    else if (bytes.byteLength > 0) this.#tail = Buffer.concat([this.#tail, bytes]).subarray(-tailBytes);
    this.#totalBytes += bytes.byteLength;
    const room = this.#maxBytes - this.#keptBytes;
    if (bytes.byteLength > room) this.#observer?.dropped(this.#name);
    if (room <= 0 || bytes.byteLength === 0) return;
    const part = bytes.byteLength <= room ? bytes : bytes.subarray(0, room);
    // Copied: the chunk's buffer may be reused by the stream that delivered it.
    const copy = Buffer.from(part);
    this.#kept.push(copy);
    this.#keptBytes += part.byteLength;
    this.#observer?.kept(this.#name, copy);
  }
}
