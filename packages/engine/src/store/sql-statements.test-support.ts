import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * SQL as Cairn writes it: a statement's opening words, a prepared statement, a pragma or a raw
 * exec. The engine's and the server's "SQL stays in the store" tests both look for these.
 */
export const sqlPatterns: readonly RegExp[] = [
  /\bSELECT\s+[\w*(]/,
  /\bINSERT\s+(OR\s+\w+\s+)?INTO\b/,
  /\bUPDATE\s+[\w.{}]+\s+SET\b/,
  /\bDELETE\s+FROM\b/,
  /\b(CREATE|ALTER)\s+(TABLE|INDEX|TRIGGER)\b/,
  /\.prepare\s*[<(]/,
  /\.pragma\s*\(/,
  /\.exec\s*\(\s*['"`]/,
];

/**
 * The source files under `root` (tests and test supports aside: they may set a scene in SQL) whose
 * folder `isStore` does not take for a store's, nor any folder above it.
 */
export function sourceFilesOutsideStores(root: string, isStore: (folder: string) => boolean): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (!isStore(path)) walk(path);
      } else if (entry.name.endsWith('.ts') && !/\.test(-support)?\.ts$|\.test-d\.ts$/.test(entry.name)) {
        found.push(path);
      }
    }
  };
  walk(root);
  return found;
}

/** Each line of `files` that holds SQL, as `path:line: text` with the path relative to `root`. */
export function linesHoldingSql(root: string, files: readonly string[]): string[] {
  return files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, index) =>
        sqlPatterns.some((pattern) => pattern.test(line)) ? [`${relative(root, file).split(sep).join('/')}:${index + 1}: ${line.trim()}`] : [],
      ),
  );
}
