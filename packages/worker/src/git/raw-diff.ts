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
}

/** Parses `git diff --raw -z --no-abbrev` output. */
export function parseRawDiff(output: Buffer): RawDiffEntry[] {
  const fields = output.toString('utf8').split('\0');
  const entries: RawDiffEntry[] = [];
  for (let index = 0; index < fields.length; ) {
    const header = fields[index++]!;
    if (header === '') continue;
    const match = /^:(\d{6}) (\d{6}) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])\d*$/.exec(header);
    if (!match) throw new Error(`unexpected git diff --raw line: ${JSON.stringify(header.slice(0, 120))}`);
    const [, oldMode, newMode, oldObject, newObject, status] = match as unknown as [string, string, string, string, string, string];
    const oldPath = fields[index++] ?? '';
    const path = status === 'R' || status === 'C' ? (fields[index++] ?? '') : oldPath;
    entries.push({ oldMode, newMode, oldObject, newObject, status, oldPath, path });
  }
  return entries;
}
