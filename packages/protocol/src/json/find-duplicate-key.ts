import { formatPathSegment } from './json-path.ts';

/**
 * The JSON path of the first duplicated object key in `text`, which must already be valid JSON
 * (JSON.parse keeps the last duplicate silently; a document whose meaning depends on which one
 * wins must be refused). Undefined when every object's keys are unique. One linear scan.
 */
export function findDuplicateKey(text: string): string | undefined {
  // One frame per open container: the keys seen so far (objects) or the next index (arrays).
  const frames: { keys: Set<string> | undefined; path: string; index: number; pendingKey: string | undefined }[] = [];
  let position = 0;
  const childPath = () => {
    const frame = frames.at(-1);
    if (!frame) return '$';
    return frame.keys ? `${frame.path}${formatPathSegment(frame.pendingKey ?? '')}` : `${frame.path}[${frame.index}]`;
  };
  while (position < text.length) {
    const character = text[position]!;
    if (character === '"') {
      const end = endOfString(text, position);
      let after = end + 1;
      while (after < text.length && /\s/.test(text[after]!)) after++;
      const frame = frames.at(-1);
      if (text[after] === ':' && frame?.keys) {
        const raw = text.slice(position, end + 1);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (frame.keys.has(key)) return `${frame.path}${formatPathSegment(key)}`;
        frame.keys.add(key);
        frame.pendingKey = key;
        position = after + 1;
        continue;
      }
      position = end + 1;
      continue;
    }
    if (character === '{' || character === '[') {
      frames.push({ keys: character === '{' ? new Set() : undefined, path: childPath(), index: 0, pendingKey: undefined });
    } else if (character === '}' || character === ']') {
      frames.pop();
    } else if (character === ',') {
      const frame = frames.at(-1);
      if (frame && !frame.keys) frame.index++;
    }
    position++;
  }
  return undefined;
}

/** Index of the closing quote of the string starting at `start`. */
function endOfString(text: string, start: number): number {
  let position = start + 1;
  for (;;) {
    const quote = text.indexOf('"', position);
    let backslashes = 0;
    while (text[quote - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return quote;
    position = quote + 1;
  }
}
