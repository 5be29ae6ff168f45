import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJsonBytes, CairnError } from '@cairn/protocol';

/** The file at the workspace root through which a runtime hands back a JSON result. */
export const outputFileName = 'output.json';

/**
 * Reads `output.json` from the workspace root, if the runtime wrote one, and returns it as
 * canonical JSON (so equal results have one digest whatever the spacing). Opened with O_NOFOLLOW
 * and checked to be a regular file: a runtime cannot make the worker read a host file through a
 * symlink. Throws CAIRN_PAYLOAD_INVALID when it is not a regular file, is larger than `maxBytes`
 * or is not JSON.
 */
export async function readOutputJson(workspace: string, maxBytes: number): Promise<Uint8Array | undefined> {
  let handle;
  try {
    handle = await open(join(workspace, outputFileName), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw invalid('is a symlink; write the JSON into the file itself');
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw invalid('is not a regular file');
    if (stats.size > maxBytes) throw invalid(`is ${stats.size} bytes, more than the ${maxBytes} bytes allowed (worker.maxOutputBytes)`);
    const bytes = await handle.readFile();
    if (bytes.byteLength > maxBytes) throw invalid(`grew past the ${maxBytes} bytes allowed (worker.maxOutputBytes)`);
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      // Not quoting the parser: its message shows a piece of the text, which may hold a secret.
      throw invalid('is not valid UTF-8 JSON');
    }
    return canonicalJsonBytes(value);
  } finally {
    await handle.close();
  }
}

function invalid(problem: string): CairnError {
  return new CairnError('CAIRN_PAYLOAD_INVALID', `The runtime's ${outputFileName} ${problem}.`, { path: outputFileName });
}
