import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

/**
 * Where `program` would be run from: itself when it is an absolute path, else the first executable
 * regular file of that name in the directories of `searchPath` (the runtime's PATH, never the
 * worker's own). Empty and relative PATH entries are skipped: they would be resolved against the
 * worker's working directory, not a place anyone meant. Undefined when there is none.
 */
export async function findProgram(program: string, searchPath: string | undefined): Promise<string | undefined> {
  if (program.includes('/')) return isAbsolute(program) && (await isExecutableFile(program)) ? program : undefined;
  for (const directory of (searchPath ?? '').split(':')) {
    if (!isAbsolute(directory)) continue;
    const candidate = join(directory, program);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
