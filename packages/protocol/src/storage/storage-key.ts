import { CairnError } from '../errors/cairn-error.ts';

const maximumKeyBytes = 1024;
// C0 controls, DEL and C1 controls: invisible in logs and in file listings.
const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/u;

/**
 * Checks a storage key against the StorageProviderV1 rules, with no I/O, and returns its
 * segments. Refused keys throw CAIRN_STORAGE_KEY_INVALID saying which rule they break; `provider`
 * (`local`, `s3`) names who refused it. Keys are taken exactly as given: nothing is normalised,
 * so two different keys never share an object.
 */
export function storageKeySegments(key: unknown, provider: string): string[] {
  const problem = keyProblem(key);
  if (problem !== undefined) {
    const shown = typeof key === 'string' ? JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key) : String(key);
    throw new CairnError(
      'CAIRN_STORAGE_KEY_INVALID',
      `[cairn] [${provider}] storage key ${shown} is refused: ${problem}. Use a relative key of non-empty segments separated by "/" (for example "blobs/<hex>").`,
      { details: { rule: problem } },
    );
  }
  return (key as string).split('/');
}

/** Orders keys as StorageProviderV1 lists them: by their UTF-8 bytes (not UTF-16 code units, not locale). */
export function compareStorageKeys(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}

/** True when `key` is a valid storage key (used to skip names no key could map to). */
export function isStorageKey(key: string): boolean {
  return keyProblem(key) === undefined;
}

function keyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return 'it is not a string';
  if (key.length === 0) return 'it is empty';
  // A lone surrogate is stored as U+FFFD (on disk, in an S3 key), so two keys would name one object.
  if (!key.isWellFormed()) return 'it contains a lone surrogate (not valid Unicode)';
  if (Buffer.byteLength(key, 'utf8') > maximumKeyBytes) return `it is longer than ${maximumKeyBytes} UTF-8 bytes`;
  if (key.includes('\\')) return 'it contains a backslash';
  if (controlCharacter.test(key)) return 'it contains a control character';
  if (key.startsWith('/')) return 'it is absolute';
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
  }
  return undefined;
}
