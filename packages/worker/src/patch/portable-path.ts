// Characters Windows refuses in a file name, and the C0 controls and DEL (which also break
// terminals, shells and patch readers everywhere).
const windowsForbidden = /[<>:"\\|?*\u0000-\u001f\u007f]/;
// Device names Windows reserves, in any case, with or without an extension (`nul.txt` too).
const windowsReserved = /^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³])(\..*)?$/i;

/**
 * Why a workspace-relative path (`/`-separated) cannot be checked out alike on Linux, Windows and
 * macOS, or undefined when it can: a character Windows refuses or a control character, a segment
 * ending in a dot or a space (Windows drops them), a reserved device name (`CON`, `nul.txt`), or
 * bytes that are not UTF-8 (macOS refuses them; git on Windows mangles them). The rule a run may
 * waive with `pathRules: posix`.
 */
export function portablePathProblem(path: string, validUtf8 = true): string | undefined {
  if (!validUtf8) return 'is not valid UTF-8';
  for (const segment of path.split('/')) {
    const forbidden = windowsForbidden.exec(segment);
    if (forbidden) return `holds ${JSON.stringify(forbidden[0])}, which Windows refuses in a file name`;
    if (/[. ]$/.test(segment))
      return `has a segment ending in ${segment.endsWith('.') ? 'a dot' : 'a space'} (${JSON.stringify(segment)}), which Windows drops`;
    if (windowsReserved.test(segment)) return `has ${JSON.stringify(segment)}, a device name Windows reserves`;
  }
  return undefined;
}

/** A path as a case-insensitive, normalising file system (Windows, macOS) sees it. */
function folded(path: string): string {
  return path.normalize('NFC').toLowerCase();
}

/**
 * Two paths of the tree that one file on Windows or macOS would hold (`Readme.md` and
 * `README.MD`, or two Unicode normalisations of one name) where at least one of them is in
 * `changed`: the change's own collision, not one the workspace already had. Undefined when none.
 */
export function foldedCollision(paths: readonly string[], changed: ReadonlySet<string>): readonly [string, string] | undefined {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const key = folded(path);
    const other = seen.get(key);
    if (other !== undefined && (changed.has(path) || changed.has(other))) return [other, path];
    seen.set(key, path);
  }
  return undefined;
}
