/**
 * Called once per server-sent event. `data` holds the event's data lines joined by `\n`, or is
 * `undefined` when they were not collected (the event was not wanted, or had none);
 * `oversized` says a wanted event's data was dropped for exceeding the size bound.
 */
export type SseEventHandler = (event: string | undefined, data: string | undefined, oversized: boolean) => void;

/**
 * Cuts a server-sent-event byte stream into events, arriving in whatever pieces the network
 * gives, and collects the data of only the events the caller wants.
 *
 * It sits on every byte a model streams through the gateway, so it does as little as it can:
 * bytes are decoded by the platform's streaming UTF-8 decoder (a character split between two
 * chunks is completed, not mangled), lines are found with `indexOf`, and the data lines of an
 * event the caller does not want are skipped, even while still arriving, rather than kept.
 * `wants` is asked with the event's name as far as it is known when its first data line comes
 * (providers send `event:` first; `undefined` when there is none yet).
 *
 * Lines end in LF or CRLF, which is what every provider sends; a lone CR, which the SSE grammar
 * also allows, is not treated as a line end.
 */
export class SseEventSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly wants: (event: string | undefined) => boolean;
  private readonly onEvent: SseEventHandler;
  private readonly maxChars: number;

  // The line being received, in pieces until its end arrives.
  private pending: string[] = [];
  private pendingChars = 0;
  private pendingClassified = false;
  // Set while skipping the rest of a line: which kind of line it was.
  private discarding: 'data' | 'comment' | 'oversized' | undefined = undefined;

  // The event being received.
  private eventName: string | undefined = undefined;
  private dataParts: string[] = [];
  private dataChars = 0;
  private eventHasLines = false;
  private collectingDecided = false;
  private collecting = false;
  private eventOversized = false;

  /** Events whose data was dropped for size, over the whole stream. */
  oversizedEvents = 0;

  constructor(wants: (event: string | undefined) => boolean, onEvent: SseEventHandler, maxChars: number) {
    this.wants = wants;
    this.onEvent = onEvent;
    this.maxChars = maxChars;
  }

  push(chunk: Uint8Array): void {
    const text = this.decoder.decode(chunk, { stream: true });
    if (text.length > 0) this.scan(text);
  }

  /**
   * Ends the stream. An event the stream left without its closing blank line is still
   * dispatched: strict SSE would drop it, but a meter loses nothing by reading a complete usage
   * event whose terminator was cut off, and a truncated one fails to parse anyway.
   */
  end(): void {
    const rest = this.decoder.decode();
    if (rest.length > 0) this.scan(rest);
    if (this.discarding !== undefined) {
      this.endDiscardedLine();
    } else if (this.pendingChars > 0) {
      const line = this.takePending('');
      this.line(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    this.dispatch();
  }

  private scan(text: string): void {
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      if (newline < 0) {
        if (start < text.length) this.carry(text.slice(start));
        return;
      }
      if (this.discarding !== undefined) {
        this.endDiscardedLine();
      } else {
        let line = this.pendingChars > 0 ? this.takePending(text.slice(start, newline)) : text.slice(start, newline);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        this.line(line);
      }
      start = newline + 1;
    }
  }

  private carry(fragment: string): void {
    if (this.discarding !== undefined) return;
    this.pending.push(fragment);
    this.pendingChars += fragment.length;
    if (this.pendingChars > this.maxChars) {
      this.startDiscarding('oversized');
      return;
    }
    // Once the line's field name is known, a line nobody will read is dropped as it arrives:
    // a long content delta is never held in memory.
    if (!this.pendingClassified && this.pendingChars >= 5) {
      this.pendingClassified = true;
      const head = this.pending.length === 1 ? fragment : this.pending.join('');
      if (head.startsWith(':')) this.startDiscarding('comment');
      else if (head.startsWith('data:') && !this.wantsCurrentEvent()) this.startDiscarding('data');
    }
  }

  private startDiscarding(kind: 'data' | 'comment' | 'oversized'): void {
    this.discarding = kind;
    this.pending = [];
    this.pendingChars = 0;
  }

  private endDiscardedLine(): void {
    // A comment is no part of any event; an unwanted data line still makes its event one to
    // dispatch; a line too large to keep spoils its event.
    if (this.discarding === 'data') this.eventHasLines = true;
    else if (this.discarding === 'oversized') {
      this.eventHasLines = true;
      this.eventOversized = true;
    }
    this.discarding = undefined;
    this.pendingClassified = false;
  }

  private takePending(last: string): string {
    this.pending.push(last);
    const line = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    this.pendingClassified = false;
    return line;
  }

  /** Decided once per event, at its first data line, from the name known by then. */
  private wantsCurrentEvent(): boolean {
    if (!this.collectingDecided) {
      this.collecting = this.wants(this.eventName);
      this.collectingDecided = true;
    }
    return this.collecting;
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    if (line.startsWith('data:')) {
      this.eventHasLines = true;
      if (!this.wantsCurrentEvent()) return;
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      this.dataChars += value.length + 1;
      if (this.dataChars > this.maxChars) {
        this.eventOversized = true;
        this.dataParts = [];
        return;
      }
      if (!this.eventOversized) this.dataParts.push(value);
      return;
    }
    if (line.startsWith('event:')) {
      this.eventHasLines = true;
      this.eventName = line.charCodeAt(6) === 32 ? line.slice(7) : line.slice(6);
    }
    // Comments, `id:` and `retry:` carry nothing a meter needs.
  }

  private dispatch(): void {
    if (this.eventHasLines) {
      if (this.eventOversized) this.oversizedEvents += 1;
      const data = this.collecting && !this.eventOversized && this.dataParts.length > 0 ? this.dataParts.join('\n') : undefined;
      this.onEvent(this.eventName, data, this.eventOversized);
    }
    this.eventName = undefined;
    this.dataParts = [];
    this.dataChars = 0;
    this.eventHasLines = false;
    this.collectingDecided = false;
    this.collecting = false;
    this.eventOversized = false;
  }
}
