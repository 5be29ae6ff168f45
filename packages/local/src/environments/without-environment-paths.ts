import { readdir } from 'node:fs/promises';

const slash = 0x2f;

/**
 * An attempt's changed paths less every path its environment's setup wrote (ADR 0056): a path the
 * setup wrote, or one under a folder it made, is the environment's, never the attempt's change,
 * even when the attempt edited it. A changed folder the attempt replaced whole (new or opaque) that
 * holds setup paths is replaced by what is under it in `workspace` (the merged view), less those.
 */
export async function withoutEnvironmentPaths(changed: readonly Buffer[], setupPaths: readonly Buffer[], workspace: string): Promise<Buffer[]> {
  if (setupPaths.length === 0) return [...changed];
  const setup = new Set(setupPaths.map((path) => path.toString('latin1')));
  const isSetupPath = (path: Buffer): boolean => {
    for (let end = path.indexOf(slash); end !== -1; end = path.indexOf(slash, end + 1)) {
      if (setup.has(path.subarray(0, end).toString('latin1'))) return true;
    }
    return setup.has(path.toString('latin1'));
  };
  const holdsSetupPaths = (path: Buffer): boolean => {
    const prefix = `${path.toString('latin1')}/`;
    for (const entry of setup) if (entry.startsWith(prefix)) return true;
    return false;
  };
  const kept: Buffer[] = [];
  const visit = async (path: Buffer): Promise<void> => {
    if (isSetupPath(path)) return;
    if (!holdsSetupPaths(path)) {
      kept.push(path);
      return;
    }
    for (const entry of await readdir(Buffer.concat([Buffer.from(`${workspace}/`), path]), { withFileTypes: true, encoding: 'buffer' }).catch(() => [])) {
      await visit(Buffer.concat([path, Buffer.from('/'), entry.name]));
    }
  };
  for (const path of changed) await visit(path);
  return kept;
}
