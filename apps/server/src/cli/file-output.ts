import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';

/**
 * Writes `chunks` to `file`, or to stdout without one, waiting whenever the destination is full
 * (so a large export never piles up in memory). A file is written beside itself and renamed when
 * complete: an export that fails part way leaves no truncated file under the name asked for.
 */
export async function writeChunks(chunks: AsyncIterable<string> | Iterable<string>, file: string | undefined): Promise<void> {
  const partial = file === undefined ? undefined : `${file}.partial`;
  const out: Writable = partial === undefined ? process.stdout : createWriteStream(partial, { mode: 0o600 });
  try {
    for await (const chunk of chunks) if (!out.write(chunk)) await once(out, 'drain');
    if (partial !== undefined) {
      out.end();
      await once(out, 'finish');
      renameSync(partial, file!);
    }
  } catch (error) {
    if (partial !== undefined) {
      out.destroy();
      rmSync(partial, { force: true });
    }
    throw error;
  }
}
