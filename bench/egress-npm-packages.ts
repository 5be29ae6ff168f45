// The 100 packages the egress bench installs: a project depends on 20 of them, each of which
// depends on 4 of the other 80, so npm resolves two levels of the tree (its requests for a level
// wait on the one before) as it does for a real project. Each holds ten files of 3 KiB of seeded
// base64 (about 30 KiB unpacked, 25 KiB packed: it barely compresses), written in memory.
import { tarGz } from '../packages/worker/src/testing/stand-in-internet/archives.test-support.ts';
import { SeededRandom } from './seeded-random.ts';

const direct = 20;
const perDirect = 4;

/** A package's manifest as published, and its tarball. */
export interface BenchPackage {
  readonly manifest: { readonly name: string; readonly version: string; readonly dependencies: Readonly<Record<string, string>> };
  readonly tarball: Buffer;
}

const nameOf = (index: number) => `egress-bench-${String(index).padStart(3, '0')}`;

/** The project's dependencies: the first 20 packages, at `^1.0.0`. */
export function projectDependencies(): Record<string, string> {
  return Object.fromEntries(Array.from({ length: direct }, (_, index) => [nameOf(index), '^1.0.0']));
}

export function benchPackages(): BenchPackage[] {
  const random = new SeededRandom(52);
  const filler = (bytes: number) => {
    const raw = Buffer.alloc((bytes * 3) / 4);
    for (let index = 0; index < raw.length; index++) raw[index] = random.integer(0, 255);
    return raw.toString('base64');
  };
  return Array.from({ length: direct * (1 + perDirect) }, (_, index) => {
    const dependencies =
      index < direct ? Object.fromEntries(Array.from({ length: perDirect }, (_, offset) => [nameOf(direct + index * perDirect + offset), '^1.0.0'])) : {};
    const manifest = { name: nameOf(index), version: '1.0.0', main: 'index.js', license: 'MIT', dependencies };
    const files = Array.from({ length: 9 }, (_, file) => ({
      path: `package/lib/part-${file}.js`,
      contents: `module.exports = ${JSON.stringify(filler(3072))};\n`,
    }));
    const tarball = tarGz([
      { path: 'package/package.json', contents: `${JSON.stringify(manifest, null, 2)}\n` },
      { path: 'package/index.js', contents: `module.exports = [${files.map((file) => `require('./${file.path.slice('package/'.length)}')`).join(', ')}];\n` },
      ...files,
    ]);
    return { manifest, tarball };
  });
}
