import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCairnError, type CairnError } from '@cairn/protocol';
import { afterEach } from 'vitest';

/** The CairnError `build` throws; fails the test when it throws none or something else. */
export function thrownBy(build: () => unknown): CairnError {
  try {
    build();
  } catch (error) {
    if (isCairnError(error)) return error;
    throw error;
  }
  throw new Error('expected an error');
}

/** The CairnError `operation` rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejection(operation: Promise<unknown>): Promise<CairnError> {
  try {
    await operation;
  } catch (error) {
    if (isCairnError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Call at the top of a describe block: fresh temporary folders, removed after each test. */
export function temporaryFolders(prefix: string): () => string {
  const made: string[] = [];
  afterEach(() => {
    for (const directory of made.splice(0)) rmSync(directory, { recursive: true, force: true });
  });
  return () => {
    const path = mkdtempSync(join(tmpdir(), prefix));
    made.push(path);
    return path;
  };
}
