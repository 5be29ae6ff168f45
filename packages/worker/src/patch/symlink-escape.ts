// Linux's own limit on symlinks followed while resolving one path.
const maximumHops = 40;

/**
 * Why the symlink at `path` leads outside the workspace once resolved through the other symlinks
 * of the same tree (`links`: path → target, every symlink of the tree), or undefined when it stays
 * inside. Resolution is by name, as the kernel does it, so a chain of links that each look harmless
 * (`a/up -> ..`, `a/out -> up/..`) is followed to where it really goes; a name that is not a
 * symlink in the tree counts as a directory.
 */
export function symlinkEscape(path: string, links: ReadonlyMap<string, string>): string | undefined {
  const target = links.get(path);
  if (target === undefined) return undefined;
  if (target.startsWith('/')) return `points at the absolute path ${JSON.stringify(target)}`;
  const position = path.split('/').slice(0, -1);
  let pending = target.split('/');
  let hops = 0;
  while (pending.length > 0) {
    const segment = pending.shift()!;
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (position.length === 0) return `points outside the workspace (${JSON.stringify(target)})`;
      position.pop();
      continue;
    }
    position.push(segment);
    const next = links.get(position.join('/'));
    if (next === undefined) continue;
    if (++hops > maximumHops) return `goes through more than ${maximumHops} symlinks`;
    if (next.startsWith('/')) return `leads through ${position.join('/')} to the absolute path ${JSON.stringify(next)}`;
    position.pop();
    pending = [...next.split('/'), ...pending];
  }
  return undefined;
}
