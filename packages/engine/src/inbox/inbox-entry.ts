/** The file name endings the inbox reads as run specs (compared case-insensitively). */
export const specExtensions: readonly string[] = ['.yaml', '.yml', '.json'];

/**
 * Endings of files a writer is still producing (`spec.yaml.tmp`, a browser's `.part`, an
 * editor's `~` backup). They are left alone: taking one would submit or refuse half a file.
 */
const inProgressEndings = ['.tmp', '.part', '~'];

/** What the inbox makes of one key listed under its prefix. */
export type InboxEntry =
  /** Not the inbox's business: its own folders, hidden files and folders, uploads in progress. */
  | { readonly kind: 'ignored' }
  /** A run spec to submit; `name` is the key without the inbox prefix. */
  | { readonly kind: 'spec'; readonly key: string; readonly name: string }
  /** A file that can never be a spec where it is; `message` tells the submitter what to do. */
  | { readonly kind: 'refused'; readonly key: string; readonly name: string; readonly message: string };

/**
 * Sorts a listed key. Only files directly in the inbox with a spec ending are specs. Anything
 * else a person put there (a `.txt`, a file in a sub-folder) is refused rather than ignored, so
 * its author finds a reason beside it instead of a file that silently never runs. Hidden names
 * (any segment starting with `.`) and in-progress endings are ignored: that is how writers stage
 * an upload before renaming it into place.
 */
export function inboxEntry(key: string, prefix: string): InboxEntry {
  if (!key.startsWith(prefix)) return { kind: 'ignored' };
  const name = key.slice(prefix.length);
  if (name.startsWith('processed/') || name.startsWith('rejected/')) return { kind: 'ignored' };
  const segments = name.split('/');
  if (segments.some((segment) => segment.startsWith('.'))) return { kind: 'ignored' };
  const base = segments.at(-1)!.toLowerCase();
  if (inProgressEndings.some((ending) => base.endsWith(ending))) return { kind: 'ignored' };
  if (segments.length > 1) {
    return { kind: 'refused', key, name, message: `${name} is in a sub-folder of ${prefix}, which is not read; put the spec directly in ${prefix}.` };
  }
  if (!specExtensions.some((extension) => base.endsWith(extension))) {
    return {
      kind: 'refused',
      key,
      name,
      message: `${name} is not a run spec file: the inbox reads files ending in ${specExtensions.join(', ')}. Rename it with one of those endings.`,
    };
  }
  return { kind: 'spec', key, name };
}
