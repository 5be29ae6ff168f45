import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CairnError } from '@cairn/protocol';

/** Where the demo's sample repository and run spec are (they ship in the package's `demo/`). */
export interface DemoFiles {
  readonly sampleRepository: string;
  readonly runSpec: string;
}

/**
 * The package's `demo/` folder, found from this module upwards: the same code runs from `src/demo`
 * (tests) and from a bundled `dist/cli.js` (users), at different depths.
 */
export function demoFiles(from: string = fileURLToPath(import.meta.url)): DemoFiles {
  for (let directory = dirname(from); directory !== dirname(directory); directory = dirname(directory)) {
    const manifest = join(directory, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@cairn/server') {
      return { sampleRepository: join(directory, 'demo', 'sample-repo'), runSpec: join(directory, 'demo', 'run.yaml') };
    }
  }
  throw new CairnError(
    'CAIRN_NOT_FOUND',
    `@cairn/server's package.json was not found above ${from}: the demo's sample repository ships in its demo/ folder; reinstall @cairn/server.`,
    { path: from },
  );
}
