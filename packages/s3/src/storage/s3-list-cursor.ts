import { CairnError, isStorageKey } from '@cairn/protocol';

const cursorMark = 's3c1.';

/**
 * A list cursor of the S3 provider: the listing's prefix and the last key of the page, behind a
 * version mark, base64url. The next page lists from just after that key (`StartAfter`), so a
 * cursor replays the same page and a key written or deleted meanwhile makes the next page neither
 * skip nor repeat one that stayed. S3's own continuation token is not used: it is opaque, expires
 * on some servers, and would not tell a cursor of another listing from one of this.
 */
export function encodeS3ListCursor(prefix: string, lastKey: string): string {
  return `${cursorMark}${Buffer.from(JSON.stringify([prefix, lastKey]), 'utf8').toString('base64url')}`;
}

/**
 * The key a cursor continues after, checked to belong to a listing of `prefix`;
 * CAIRN_STORAGE_LIST_INVALID for a cursor this provider did not issue for that listing.
 */
export function decodeS3ListCursor(cursor: unknown, prefix: string): string {
  if (typeof cursor === 'string' && cursor.startsWith(cursorMark)) {
    const decoded = parseOrUndefined(Buffer.from(cursor.slice(cursorMark.length), 'base64url').toString('utf8'));
    if (Array.isArray(decoded) && decoded.length === 2 && typeof decoded[0] === 'string' && typeof decoded[1] === 'string') {
      const [cursorPrefix, lastKey] = decoded as [string, string];
      if (encodeS3ListCursor(cursorPrefix, lastKey) === cursor && isStorageKey(lastKey)) {
        if (cursorPrefix === prefix && lastKey.startsWith(prefix)) return lastKey;
        throw new CairnError(
          'CAIRN_STORAGE_LIST_INVALID',
          `[cairn] [s3] list cursor belongs to a listing of prefix ${JSON.stringify(cursorPrefix)}, not ${JSON.stringify(prefix)}: pass the same prefix as the call that returned it, or omit the cursor to start over.`,
          { path: 'cursor' },
        );
      }
    }
  }
  throw new CairnError(
    'CAIRN_STORAGE_LIST_INVALID',
    '[cairn] [s3] list cursor is not one this storage provider returned; pass the `cursor` of the previous page exactly, or omit it to start over.',
    { path: 'cursor' },
  );
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
