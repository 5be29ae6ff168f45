import { gitOutput, type GitLocation } from '@cairn/protocol/workspace';

/** The contents of git objects by id, read in one `git cat-file --batch`. */
export async function readBlobs(location: GitLocation, objects: readonly string[]): Promise<Map<string, Buffer>> {
  const unique = [...new Set(objects)];
  const contents = new Map<string, Buffer>();
  if (unique.length === 0) return contents;
  const output = await gitOutput(location, ['cat-file', '--batch'], { input: Buffer.from(`${unique.join('\n')}\n`) });
  let offset = 0;
  for (const object of unique) {
    const newline = output.indexOf(0x0a, offset);
    const header = output.subarray(offset, newline).toString('utf8');
    const [id, type, size] = header.split(' ');
    if (id !== object || type === 'missing' || size === undefined) throw new Error(`git cat-file did not return object ${object}: ${header}`);
    const start = newline + 1;
    contents.set(object, output.subarray(start, start + Number(size)));
    offset = start + Number(size) + 1;
  }
  return contents;
}
