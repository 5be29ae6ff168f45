/** One changed path of `git diff --raw -z`. */
export interface RawDiffEntry {
  /** `100644`, `100755`, `120000`, `160000`; `000000` when the path is new. */
  readonly oldMode: string;
  /** `000000` when the path was deleted. */
  readonly newMode: string;
  readonly oldObject: string;
  readonly newObject: string;
  /** A (added), D, M, T (type changed), R (renamed), C (copied). */
  readonly status: string;
  /** The path before (for renames and copies, the source); equals `path` otherwise. */
  readonly oldPath: string;
  readonly path: string;
  /** Whether both paths were valid UTF-8 (otherwise they hold U+FFFD where the bad bytes were). */
  readonly validUtf8: boolean;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The fields of NUL-separated output, each decoded as UTF-8 (lossily, and said so, when it is not). */
function nulFields(output: Buffer): { text: string; validUtf8: boolean }[] {
  const fields: { text: string; validUtf8: boolean }[] = [];
  for (let start = 0; start <= output.length;) {
    let end = output.indexOf(0, start);
    if (end === -1) end = output.length;
    const bytes = output.subarray(start, end);
    try {
      fields.push({ text: strictUtf8.decode(bytes), validUtf8: true });
    } catch {
      fields.push({ text: bytes.toString('utf8'), validUtf8: false });
    }
    start = end + 1;
  }
  return fields;
}

/** Parses `git diff --raw -z --no-abbrev` output. */
export function parseRawDiff(output: Buffer): RawDiffEntry[] {
  const fields = nulFields(output);
  const entries: RawDiffEntry[] = [];
  for (let index = 0; index < fields.length;) {
    const header = fields[index++]!.text;
    if (header === '') continue;
    const match = /^:(\d{6}) (\d{6}) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])\d*$/.exec(header);
    if (!match) throw new Error(`unexpected git diff --raw line: ${JSON.stringify(header.slice(0, 120))}`);
    const [, oldMode, newMode, oldObject, newObject, status] = match as unknown as [string, string, string, string, string, string];
    const old = fields[index++] ?? { text: '', validUtf8: true };
    const renamed = status === 'R' || status === 'C' ? (fields[index++] ?? { text: '', validUtf8: true }) : old;
    entries.push({ oldMode, newMode, oldObject, newObject, status, oldPath: old.text, path: renamed.text, validUtf8: old.validUtf8 && renamed.validUtf8 });
  }
  return entries;
}

/**
 * Splits the output of one `git diff --raw -z --patch …` (the listing and the patch from one read
 * of the index and trees) into its two parts: the NUL-terminated records of the listing (a header
 * starting with `:`, then one path, or two for a rename or copy), one NUL, then the patch, byte
 * for byte what the same diff without `--raw -z` prints.
 */
export function splitRawAndPatch(output: Buffer): { readonly raw: Buffer; readonly patch: Buffer } {
  let position = 0;
  const field = (): void => {
    const end = output.indexOf(0, position);
    if (end === -1) throw new Error(`unexpected git diff --raw --patch output: a record not ended by NUL at byte ${position}`);
    position = end + 1;
  };
  while (position < output.length && output[position] === 0x3a /* ':' */) {
    const headerEnd = output.indexOf(0, position);
    if (headerEnd === -1) throw new Error(`unexpected git diff --raw --patch output: a record not ended by NUL at byte ${position}`);
    // The status letter (and a score) ends the header: R and C name two paths.
    const status = /([A-Z])\d*$/.exec(output.toString('latin1', position, headerEnd))?.[1];
    position = headerEnd + 1;
    field();
    if (status === 'R' || status === 'C') field();
  }
  const raw = output.subarray(0, position);
  if (position === output.length) return { raw, patch: output.subarray(position) };
  if (output[position] !== 0) throw new Error(`unexpected git diff --raw --patch output: no NUL between the listing and the patch at byte ${position}`);
  return { raw, patch: output.subarray(position + 1) };
}
