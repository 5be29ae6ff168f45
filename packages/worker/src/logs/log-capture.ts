import { SecretRedactor } from './secret-redactor.ts';

/**
 * One output stream of an attempt as it is stored: secret values redacted first, then the first
 * `maxBytes` bytes kept and, when there was more, a marker line saying how much was dropped
 * (the stored log is at most `maxBytes` plus that line). Memory stays at `maxBytes`, however much
 * the runtime writes.
 */
export class LogCapture {
  readonly #name: string;
  readonly #maxBytes: number;
  readonly #redactor: SecretRedactor;
  readonly #kept: Buffer[] = [];
  #keptBytes = 0;
  #totalBytes = 0;

  constructor(name: string, maxBytes: number, secrets: Readonly<Record<string, string>>) {
    this.#name = name;
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

  #keep(bytes: Buffer): void {
    this.#totalBytes += bytes.byteLength;
    const room = this.#maxBytes - this.#keptBytes;
    if (room <= 0 || bytes.byteLength === 0) return;
    const part = bytes.byteLength <= room ? bytes : bytes.subarray(0, room);
    // Copied: the chunk's buffer may be reused by the stream that delivered it.
    this.#kept.push(Buffer.from(part));
    this.#keptBytes += part.byteLength;
  }
}
