import { CairnError } from '../errors/cairn-error.ts';

/**
 * The text of a run spec's bytes, as every surface reads it (the HTTP API, `cairn validate` and
 * `cairn submit`, the inbox): UTF-8, strictly. A lossy decode would run a spec that differs from
 * what was sent (U+FFFD where the bad bytes were), so bytes that are not UTF-8 are refused with
 * CAIRN_RUN_SPEC_UNPARSABLE naming the offset of the first bad byte. A byte-order mark is dropped.
 */
export function decodeRunSpec(bytes: Uint8Array, source = 'run spec'): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    const offset = firstInvalidUtf8Byte(bytes);
    const utf16 = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
    const message = utf16
      ? `${source} is UTF-16 text; save it as UTF-8.`
      : `${source} is not UTF-8 text: byte ${offset} (0x${bytes[offset]?.toString(16).padStart(2, '0') ?? '??'}) starts no valid UTF-8 sequence; save it as UTF-8.`;
    throw new CairnError('CAIRN_RUN_SPEC_UNPARSABLE', message, {
      path: '$',
      issues: [{ code: 'CAIRN_RUN_SPEC_UNPARSABLE', path: '$', message }],
      details: { byteOffset: offset },
      cause: error,
    });
  }
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
function firstInvalidUtf8Byte(bytes: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  // Sequence by sequence, from each lead byte's declared length: the first sequence that does not
  // decode (a stray continuation byte, an overlong form, a surrogate, a cut-off end) is the answer.
  let start = 0;
  while (start < bytes.length) {
    const lead = bytes[start]!;
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (length === 0 || start + length > bytes.length) return start;
    try {
      decoder.decode(bytes.subarray(start, start + length));
    } catch {
      return start;
    }
    start += length;
  }
  return start;
}
