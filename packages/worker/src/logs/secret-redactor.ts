interface Secret {
  readonly value: Buffer;
  readonly replacement: Buffer;
}

/**
 * Replaces secret values in a byte stream with `[redacted:NAME]`, also when a value arrives split
 * across chunks: the bytes at the end of a chunk that could still begin a secret are held back
 * until the next chunk (or `end`) decides. Where two secrets match at one position the longer
 * wins, and a match is held while a longer secret could still complete over it, so no part of
 * the longer one is let out. Empty values are ignored (they cannot be found).
 */
export class SecretRedactor {
  readonly #secrets: readonly Secret[];
  #held: Buffer = Buffer.alloc(0);

  constructor(secrets: Readonly<Record<string, string>>) {
    this.#secrets = Object.entries(secrets)
      .filter(([, value]) => value !== '')
      .map(([name, value]) => ({ value: Buffer.from(value), replacement: Buffer.from(`[redacted:${name}]`) }))
      .sort((left, right) => right.value.byteLength - left.value.byteLength);
  }

  /** Redacts a chunk; returns the bytes that are final (possibly fewer than given). */
  write(chunk: Uint8Array): Buffer {
    if (this.#secrets.length === 0) return Buffer.from(chunk);
    return this.#redact(Buffer.concat([this.#held, chunk]), false);
  }

  /** The bytes still held back, redacted. */
  end(): Buffer {
    if (this.#secrets.length === 0) return Buffer.alloc(0);
    return this.#redact(this.#held, true);
  }

  #redact(buffer: Buffer, final: boolean): Buffer {
    const output: Buffer[] = [];
    let position = 0;
    for (;;) {
      // Bytes from `holdFrom` on may still become a secret (even a longer one than a match found
      // there), so they wait for the next chunk.
      const holdFrom = final ? buffer.byteLength : this.#partialStart(buffer, position);
      let found: { index: number; secret: Secret } | undefined;
      for (const secret of this.#secrets) {
        const index = buffer.indexOf(secret.value, position);
        if (index !== -1 && (found === undefined || index < found.index)) found = { index, secret };
      }
      if (found === undefined || found.index >= holdFrom) {
        output.push(buffer.subarray(position, holdFrom));
        this.#held = Buffer.from(buffer.subarray(holdFrom));
        return Buffer.concat(output);
      }
      output.push(buffer.subarray(position, found.index), found.secret.replacement);
      position = found.index + found.secret.value.byteLength;
    }
  }

  /** The first position (not before `from`) where the rest of the buffer begins some secret. */
  #partialStart(buffer: Buffer, from: number): number {
    const longest = this.#secrets[0]!.value.byteLength;
    for (let start = Math.max(from, buffer.byteLength - longest + 1); start < buffer.byteLength; start++) {
      const rest = buffer.subarray(start);
      if (this.#secrets.some((secret) => secret.value.byteLength > rest.byteLength && secret.value.subarray(0, rest.byteLength).equals(rest))) return start;
    }
    return buffer.byteLength;
  }
}
