/**
 * Applies a text `git diff` (added, deleted and changed files; no binary, rename or mode change)
 * to files by path, exactly (no fuzz, no offset), as `git apply` does for such patches. Answers the
 * new files, or a sentence saying why the patch does not apply. Enough for an in-memory forge;
 * the real forges apply patches with git.
 */
export function applyTextPatch(files: ReadonlyMap<string, string>, patch: string): Map<string, string> | string {
  const result = new Map(files);
  const lines = patch.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let index = 0;
  while (index < lines.length) {
    const header = /^diff --git a\/(.+) b\/(.+)$/.exec(lines[index]!);
    if (!header) return `line ${index + 1}: expected "diff --git a/... b/...", found ${JSON.stringify(lines[index])}`;
    const [, from, to] = header;
    if (from !== to) return `${from}: renames are not applied by the in-memory forge`;
    const path = from!;
    index += 1;
    let created = false;
    let deleted = false;
    while (index < lines.length && !lines[index]!.startsWith('@@') && !lines[index]!.startsWith('diff --git ')) {
      const line = lines[index]!;
      if (line.startsWith('new file mode ')) created = true;
      else if (line.startsWith('deleted file mode ')) deleted = true;
      else if (!/^(index |--- |\+\+\+ )/.test(line)) return `${path}: "${line}" is not applied by the in-memory forge (text patches only)`;
      index += 1;
    }
    if (created && result.has(path)) return `${path}: already exists`;
    if (!created && !result.has(path)) return `${path}: does not exist`;
    const before = created ? [] : splitLines(result.get(path)!);
    const after: string[] = [];
    let consumed = 0;
    while (index < lines.length && lines[index]!.startsWith('@@')) {
      const hunk = /^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@/.exec(lines[index]!);
      if (!hunk) return `${path}: malformed hunk header ${JSON.stringify(lines[index])}`;
      // A hunk that only adds names the line it follows; one that reads lines names the first of them.
      const oldCount = hunk[2] === undefined ? 1 : Number(hunk[2]);
      const start = oldCount === 0 ? Number(hunk[1]) : Number(hunk[1]) - 1;
      if (start < consumed || start > before.length) return `${path}: hunk at line ${hunk[1]} is outside the file`;
      after.push(...before.slice(consumed, start));
      consumed = start;
      index += 1;
      while (index < lines.length && /^[ +\-\\]/.test(lines[index]!)) {
        const line = lines[index]!;
        const text = `${line.slice(1)}\n`;
        if (line.startsWith('\\')) {
          const last = after.at(-1);
          if (last !== undefined && lines[index - 1]!.startsWith('+')) after[after.length - 1] = last.slice(0, -1);
        } else if (line.startsWith('+')) {
          after.push(text);
        } else {
          const found = before[consumed];
          const matches = found === text || (found !== undefined && !found.endsWith('\n') && lines[index + 1]?.startsWith('\\') && `${found}\n` === text);
          if (!matches)
            return `${path}: line ${consumed + 1} is ${JSON.stringify(found ?? 'past the end')}, the patch expects ${JSON.stringify(line.slice(1))}`;
          if (line.startsWith(' ')) after.push(found);
          consumed += 1;
        }
        index += 1;
      }
    }
    after.push(...before.slice(consumed));
    if (deleted) {
      if (after.length > 0) return `${path}: deleted, yet lines remain`;
      result.delete(path);
    } else {
      result.set(path, after.join(''));
    }
  }
  return result;
}

/** Lines with their line breaks; the last may have none. */
function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}
