/** An RFC 6901 JSON pointer: empty (the whole document), or `/`-led reference tokens with `~0` and `~1` escapes. */
export const jsonPointerPattern = /^(\/([^~]|~[01])*)*$/;

/**
 * The value `pointer` (RFC 6901) names in `document`, or undefined when nothing is there. An array
 * is indexed by a decimal without leading zeros; `-` (past the end) names nothing; only a
 * document's own keys are followed, never an inherited one (`/constructor`).
 */
export function valueAtPointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  let value = document;
  for (const token of pointer
    .slice(1)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))) {
    if (Array.isArray(value)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
      value = value[Number(token)];
    } else if (typeof value === 'object' && value !== null) {
      if (!Object.hasOwn(value, token)) return undefined;
      value = (value as Record<string, unknown>)[token];
    } else return undefined;
  }
  return value;
}
