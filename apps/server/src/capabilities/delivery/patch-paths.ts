/**
 * Every path a `git diff` patch touches, each side of a rename or copy and a deleted file's too,
 * sorted and without repeats. Read from each file's extended header (`--- a/`, `+++ b/`,
 * `rename from`, `copy to`, and `diff --git` itself for a mode-only or binary change), never from
 * inside a hunk, where a removed line reading `-- x` shows as `--- x`. Paths git quoted (a tab,
 * a quote, a byte outside ASCII) are unquoted: a name cannot hide from a check by being odd.
 */
export function patchPaths(patch: string): string[] {
  const paths = new Set<string>();
  let inHeader = false;
  for (const line of patch.split('\n')) {
    if (line.startsWith('diff --git ')) {
      inHeader = true;
      for (const path of headerPaths(line.slice('diff --git '.length))) paths.add(path);
      continue;
    }
    if (!inHeader) continue;
    if (line.startsWith('@@') || line === 'GIT binary patch') {
      inHeader = false;
      continue;
    }
    // git ends a name holding a space with a tab here, so that the line's end is unambiguous.
    const named = /^(?:--- |\+\+\+ )(.*?)\t?$/.exec(line);
    if (named) {
      const path = unquoted(named[1]!);
      if (path !== '/dev/null') paths.add(path.replace(/^[ab]\//, ''));
      continue;
    }
    const moved = /^(?:rename|copy) (?:from|to) (.*)$/.exec(line);
    if (moved) paths.add(unquoted(moved[1]!));
  }
  return [...paths].sort();
}

// `a/X b/Y`: each side quoted or not. Unquoted with spaces in the names, the split is where both
// halves name the same file (the header of a rename is not relied on: its rename lines follow).
function headerPaths(rest: string): string[] {
  if (rest.startsWith('"')) {
    const end = quotedEnd(rest);
    const second = rest.slice(end + 1).trimStart();
    return [unquoted(rest.slice(0, end + 1)), unquoted(second)].map((path) => path.replace(/^[ab]\//, ''));
  }
  if (rest.endsWith('"')) {
    const start = rest.indexOf(' "');
    return [rest.slice(0, start), unquoted(rest.slice(start + 1))].map((path) => path.replace(/^[ab]\//, ''));
  }
  const half = (rest.length - 1) / 2;
  const left = rest.slice(0, half);
  const right = rest.slice(half + 1);
  if (Number.isInteger(half) && left.startsWith('a/') && right.startsWith('b/') && left.slice(2) === right.slice(2)) return [left.slice(2)];
  return [];
}

// The index of the closing quote of the C-quoted string `text` starts with.
function quotedEnd(text: string): number {
  for (let index = 1; index < text.length; index++) {
    if (text[index] === '\\') index++;
    else if (text[index] === '"') return index;
  }
  return text.length - 1;
}

const escapes: Readonly<Record<string, number>> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };

/** A path as git wrote it, with git's C-style quoting (`"a/\303\251t\303\251.yml"`) undone; an unquoted one as it is. */
function unquoted(text: string): string {
  if (!(text.startsWith('"') && text.endsWith('"') && text.length >= 2)) return text;
  const bytes: number[] = [];
  const body = text.slice(1, -1);
  for (let index = 0; index < body.length; index++) {
    const character = body[index]!;
    if (character !== '\\') {
      bytes.push(...Buffer.from(character, 'utf8'));
      continue;
    }
    const octal = /^[0-7]{3}/.exec(body.slice(index + 1));
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8));
      index += 3;
    } else {
      const escaped = body[index + 1] ?? '\\';
      bytes.push(escapes[escaped] ?? escaped.charCodeAt(0));
      index += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
