import { CairnError, isStorageKey } from '@cairn/protocol';

const cursorPrefix = 'k1.';

/**
 * A list cursor is the last key of the page, so a page replays identically and a key written or
 * deleted meanwhile makes the next page neither skip nor repeat one that stayed. It is opaque to
 * callers (base64url behind a version mark) and checked on the way back in.
 */
export function encodeListCursor(lastKey: string): string {
  return `${cursorPrefix}${Buffer.from(lastKey, 'utf8').toString('base64url')}`;
}

/** The key a cursor continues after; CAIRN_STORAGE_LIST_INVALID for one this provider never issued. */
export function decodeListCursor(cursor: unknown): string {
  if (typeof cursor === 'string' && cursor.startsWith(cursorPrefix)) {
    const key = Buffer.from(cursor.slice(cursorPrefix.length), 'base64url').toString('utf8');
    if (encodeListCursor(key) === cursor && isStorageKey(key)) return key;
  }
  throw new CairnError(
    'CAIRN_STORAGE_LIST_INVALID',
    '[cairn] [local] list cursor is not one this storage provider returned; pass the `cursor` of the previous page exactly, or omit it to start over.',
  );
}
