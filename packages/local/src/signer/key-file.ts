import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fchmodSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CairnError } from '@cairn/protocol';
import { errorCode } from '../storage/error-code.ts';

/** How to read (or make) one secret key file. */
export interface KeyFileRequest {
  /** Absolute path of the key file. */
  readonly file: string;
  /** Make the file with `generate()` when it does not exist. */
  readonly create: boolean;
  /** The option naming the file, for errors (`local.signer.keyFile`). */
  readonly option: string;
  /** The key's bytes for a new file. */
  readonly generate: () => Uint8Array;
  /** The error for a file that exists but cannot be read (permissions of the directory, I/O). */
  readonly unreadable: (message: string, cause: unknown) => CairnError;
}

const keyFileMode = 0o600;
const keyFolderMode = 0o700;
/** Folders above the key folder that this makes: others may pass through, not list. */
const passableFolderMode = 0o711;

/**
 * Reads a secret key file, making it first when asked to. A file group or others can read or
 * write is refused: a key that may already have leaked is not used. A new file is written to a
 * temporary name opened exclusively with mode 0600 (never readable by anyone else, not even for an
 * instant), flushed, then linked into place, so a reader never sees half a key and two processes
 * creating the same key file at once end up using the same key. Key bytes never reach a message.
 */
export function readKeyFile(request: KeyFileRequest): Buffer {
  let descriptor: number;
  try {
    descriptor = openSync(request.file, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT' && request.create) {
      createKeyFile(request);
      return readKeyFile({ ...request, create: false });
    }
    if (errorCode(error) === 'ENOENT') {
      throw configInvalid(request, `no key file at ${request.file}: point "${request.option}" at the key, or set "create: true" to generate one there`);
    }
    throw request.unreadable(
      `[cairn] [local] the key file ${request.file} ("${request.option}") cannot be read (${errorCode(error) ?? 'error'}): check its permissions and those of its folder.`,
      error,
    );
  }
  try {
    const stats = fstatSync(descriptor);
    if (!stats.isFile()) throw configInvalid(request, `${request.file} is not a regular file`);
    if ((stats.mode & 0o077) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
      throw configInvalid(
        request,
        `the key file ${request.file} can be read or written by group or others (mode ${mode}); run \`chmod 600 ${request.file}\`, and replace the key if someone else may have read it`,
      );
    }
    return readFileSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}

function createKeyFile(request: KeyFileRequest): void {
  const folder = dirname(request.file);
  const temporary = `${request.file}.cairn-tmp-${randomBytes(8).toString('hex')}`;
  try {
    // The folders above the key's are made passable (0711, as `cairn init` makes a data folder):
    // a data folder made here holds the work root too, which sandboxes of other uids pass through.
    makePassableFolders(dirname(folder));
    mkdirSync(folder, { recursive: true, mode: keyFolderMode });
    const descriptor = openSync(temporary, 'wx', keyFileMode);
    try {
      // The umask can only narrow 0600; the chmod makes it exactly 0600 whatever the umask.
      fchmodSync(descriptor, keyFileMode);
      writeFileSync(descriptor, request.generate());
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
    try {
      linkSync(temporary, request.file);
    } catch (error) {
      // Made by another process meanwhile: use that key, never replace it.
      if (errorCode(error) !== 'EEXIST') throw error;
    }
    // Before the folder's flush, which makes the removal durable with the link: removed after it, a
    // machine crash could keep a second copy of the secret under the temporary name.
    unlinkSync(temporary);
    const folderDescriptor = openSync(folder, 'r');
    try {
      fsyncSync(folderDescriptor);
    } finally {
      closeSync(folderDescriptor);
    }
  } catch (error) {
    throw request.unreadable(
      `[cairn] [local] the key file ${request.file} ("${request.option}") could not be created (${errorCode(error) ?? 'error'}): check that its folder is writable.`,
      error,
    );
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // Gone already, or never made.
    }
  }
}

function configInvalid(request: KeyFileRequest, problem: string): CairnError {
  return new CairnError('CAIRN_CONFIG_INVALID', `[cairn] [local] invalid setting "${request.option}": ${problem}.`, {
    path: request.option,
    issues: [{ code: 'CAIRN_CONFIG_INVALID', path: request.option, message: problem }],
  });
}

/**
 * Makes `folder` and the folders above it that are missing, each 0711 whatever the umask (a umask
 * of 077 would make them 0700, closed to the sandboxes that pass through a data folder).
 */
function makePassableFolders(folder: string): void {
  const first = mkdirSync(folder, { recursive: true, mode: passableFolderMode });
  if (first === undefined) return;
  for (let made = folder; ; made = dirname(made)) {
    chmodSync(made, passableFolderMode);
    if (made === first || dirname(made) === made) break;
  }
}

/** The CAIRN_CONFIG_INVALID error for a key file whose content is not the key expected. */
export function keyFileInvalid(option: string, file: string, problem: string, cause?: unknown): CairnError {
  const message = `${file} ${problem}`;
  return new CairnError('CAIRN_CONFIG_INVALID', `[cairn] [local] invalid setting "${option}": ${message}.`, {
    path: option,
    issues: [{ code: 'CAIRN_CONFIG_INVALID', path: option, message }],
    ...(cause === undefined ? {} : { cause }),
  });
}
