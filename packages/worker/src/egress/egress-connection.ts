import type { Readable, Writable } from 'node:stream';
import type { EgressRecord, EgressRefusalReason } from './egress-record.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One connection's record while the proxy handles it; `record()` is its state at that moment. */
export class EgressConnection {
  readonly #record: Mutable<EgressRecord>;
  readonly #now: () => Date;

  constructor(kind: EgressRecord['kind'], host: string, port: number, now: () => Date) {
    this.#now = now;
    this.#record = {
      host,
      port,
      kind,
      address: null,
      decision: 'allowed',
      rule: null,
      reason: null,
      message: null,
      wouldAdmit: null,
      bytesIn: 0,
      bytesOut: 0,
      credential: null,
      startedAt: now().toISOString(),
      endedAt: null,
    };
  }

  get ended(): boolean {
    return this.#record.endedAt !== null;
  }

  get host(): string {
    return this.#record.host;
  }

  record(): EgressRecord {
    return { ...this.#record };
  }

  decided(fields: { host: string; address: string | null; rule: string | null }): void {
    Object.assign(this.#record, fields);
  }

  /** Its TLS terminated and `secret` brokered into its requests. */
  brokered(secret: string): void {
    this.#record.credential = secret;
  }

  counted(direction: 'in' | 'out', bytes: number): void {
    if (direction === 'in') this.#record.bytesIn += bytes;
    else this.#record.bytesOut += bytes;
  }

  /** Refused before any byte reached the host. The first ending said is the one kept. */
  refuse(reason: EgressRefusalReason, message: string, wouldAdmit: string | null = null): void {
    this.#end({ decision: 'refused', reason, message, wouldAdmit });
  }

  /** Ended by the proxy after bytes had passed (a limit reached, the host failing). */
  cut(reason: EgressRefusalReason, message: string): void {
    this.#end({ decision: 'cut', reason, message });
  }

  /** Ended by either side, as a connection does. */
  close(): void {
    this.#end({});
  }

  #end(fields: Partial<Mutable<EgressRecord>>): void {
    if (this.ended) return;
    Object.assign(this.#record, fields, { endedAt: this.#now().toISOString() });
  }
}

/**
 * Moves bytes from one side to the other, asking `admit` before each chunk is passed on (false:
 * the chunk is held back, and the caller cuts the connection), with the sender paused while the
 * receiver is full so a fast host cannot fill the worker's memory.
 */
export function relay(from: Readable, to: Writable, admit: (bytes: number) => boolean): void {
  from.on('data', (chunk: Buffer) => {
    if (!admit(chunk.length)) return;
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
}
