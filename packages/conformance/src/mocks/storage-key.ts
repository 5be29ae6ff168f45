import { CairnError } from '@cairn/protocol';

const maximumKeyBytes = 1024;
// C0 controls, DEL and C1 controls: invisible in logs and rejected by some backends.
const controlCharacter = /[\u0000-\u001f\u007f-\u009f]/u;

/**
 * Enforces the StorageProviderV1 key rules: relative, '/'-separated, non-empty segments that are
 * neither '.' nor '..', no backslash or control character, at most 1024 UTF-8 bytes. The mocks
 * check keys exactly as a real backend must, so that code tested against them is not surprised
 * in production.
 */
export function assertStorageKey(key: string): void {
  const problem = storageKeyProblem(key);
  if (problem !== undefined) {
    throw new CairnError('CAIRN_STORAGE_KEY_INVALID', `[cairn] [conformance] invalid storage key ${JSON.stringify(key.slice(0, 80))}: ${problem}`);
  }
}

function storageKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'it is empty';
  if (Buffer.byteLength(key, 'utf8') > maximumKeyBytes) return `it is longer than ${maximumKeyBytes} UTF-8 bytes`;
  if (key.includes('\\')) return 'it contains a backslash; separate segments with "/"';
  if (controlCharacter.test(key)) return 'it contains a control character';
  if (key.startsWith('/')) return 'it is absolute; keys are relative';
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
  }
  return undefined;
}
