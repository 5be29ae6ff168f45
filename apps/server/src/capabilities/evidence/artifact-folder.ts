import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError, isCairnError, sha256Digest } from '@cairn/protocol';

// A bundle's artifacts kept beside it for `cairn verify --artifacts`: each content in a file named
// by the hex of its SHA-256 digest, so the folder needs no index and a file names what it must hash to.
const digestPattern = /^sha256:([0-9a-f]{64})$/;

/** The file of `digest` in `folder`: `<folder>/<64 hex digits>`; undefined for what is not a sha256 digest. */
export function artifactFile(folder: string, digest: string): string | undefined {
  const hex = digestPattern.exec(digest)?.[1];
  return hex === undefined ? undefined : join(folder, hex);
}

/**
 * What `cairn verify --artifacts <folder>` reads artifacts with: the bytes of `<folder>/<hex>`, or
 * null when there is no such file (the `artifacts` check then fails naming the artifact). Throws
 * CAIRN_PAYLOAD_INVALID (bad input) naming the path when the folder is not a folder, or when an
 * artifact's path is something other than a regular file (a FIFO is refused, never waited on).
 */
export function artifactFolderReader(folder: string): (digest: string) => Promise<Uint8Array | null> {
  let stats;
  try {
    stats = statSync(folder);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'there is no such folder' : (error as Error).message;
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `Cannot read the artifacts folder ${folder} (--artifacts): ${reason}. ${fillIt}`, { path: folder });
  }
  if (!stats.isDirectory())
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `Cannot read the artifacts folder ${folder} (--artifacts): it is not a folder. ${fillIt}`, { path: folder });
  return async (digest) => {
    const file = artifactFile(folder, digest);
    if (file === undefined) return null;
    let descriptor: number;
    try {
      descriptor = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `Cannot read the artifact ${digest} from ${file}: ${(error as Error).message}.`, {
        path: file,
        cause: error,
      });
    }
    try {
      if (!fstatSync(descriptor).isFile())
        throw new CairnError('CAIRN_PAYLOAD_INVALID', `Cannot read the artifact ${digest} from ${file}: it is not a regular file. ${fillIt}`, { path: file });
      return new Uint8Array(readFileSync(descriptor));
    } finally {
      closeSync(descriptor);
    }
  };
}

const fillIt = "Fill a folder with a run's artifacts with `cairn audit bundle RUN --out FILE --artifacts FOLDER`.";

/** What filling a folder did: artifacts fetched, and those already there with matching content. */
export interface FilledArtifactFolder {
  readonly folder: string;
  readonly fetched: number;
  readonly present: number;
}

/**
 * Puts each of `digests` into `folder` (made 0700 when missing) as `<folder>/<hex>` (0600),
 * fetched with `fetch` unless a regular file there already hashes to it. A file is written beside
 * itself and renamed once complete. Throws CAIRN_BUNDLE_INVALID for a digest that is not sha256,
 * CAIRN_PAYLOAD_INVALID naming the path when the folder or a file cannot be made,
 * CAIRN_DIGEST_MISMATCH when fetched bytes do not hash to their digest, and the fetch's own error
 * (CAIRN_NOT_FOUND: the server no longer holds it) with the digest named.
 */
export async function fillArtifactFolder(
  folder: string,
  digests: readonly string[],
  fetch: (digest: string) => Promise<Uint8Array>,
  concurrency = 8,
): Promise<FilledArtifactFolder> {
  const files = digests.map((digest) => {
    const file = artifactFile(folder, digest);
    if (file === undefined)
      throw new CairnError('CAIRN_BUNDLE_INVALID', `The bundle lists the artifact ${JSON.stringify(digest)}, which is not a sha256 digest.`);
    return { digest, file };
  });
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Cannot make the artifacts folder ${folder} (--artifacts): ${(error as Error).message}. Pass a folder you can write to.`,
      {
        path: folder,
        cause: error,
      },
    );
  }
  if (!statSync(folder).isDirectory())
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Cannot use ${folder} as the artifacts folder (--artifacts): it is not a folder. Pass a folder, new or one made before.`,
      {
        path: folder,
      },
    );
  let fetched = 0;
  let present = 0;
  const queue = [...files];
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      if (holds(next.file, next.digest)) {
        present++;
        continue;
      }
      let bytes: Uint8Array;
      try {
        bytes = await fetch(next.digest);
      } catch (error) {
        if (!isCairnError(error)) throw error;
        throw new CairnError(error.code, `Cannot fetch the artifact ${next.digest} into ${folder}: ${error.message}`, {
          ...(error.path === undefined ? {} : { path: error.path }),
          details: { ...error.details, digest: next.digest },
          action: error.action,
          cause: error,
        });
      }
      const actual = sha256Digest(bytes);
      if (actual !== next.digest)
        throw new CairnError(
          'CAIRN_DIGEST_MISMATCH',
          `The server answered bytes for the artifact ${next.digest} that hash to ${actual}; nothing was written to ${next.file}.`,
          {
            details: { expected: next.digest, actual },
          },
        );
      write(next.file, bytes);
      fetched++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return { folder, fetched, present };
}

/** Whether `file` is a regular file whose bytes hash to `digest` (anything else there is replaced). */
function holds(file: string, digest: string): boolean {
  let stats;
  try {
    stats = lstatSync(file);
  } catch {
    return false;
  }
  if (stats.isDirectory())
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `Cannot write the artifact to ${file}: a folder is in its place. Remove it, or pass another --artifacts folder.`,
      {
        path: file,
      },
    );
  return stats.isFile() && sha256Digest(readFileSync(file)) === digest;
}

function write(file: string, bytes: Uint8Array): void {
  const partial = `${file}.partial`;
  try {
    rmSync(partial, { force: true });
    writeFileSync(partial, bytes, { mode: 0o600, flag: 'wx' });
    renameSync(partial, file);
  } catch (error) {
    rmSync(partial, { force: true });
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `Cannot write the artifact to ${file}: ${(error as Error).message}. Pass a folder you can write to.`, {
      path: file,
      cause: error,
    });
  }
}
