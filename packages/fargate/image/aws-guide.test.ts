import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { workerBundlePath } from './worker-image-paths.ts';

/**
 * docs/operations/aws.md: the steps that need no AWS account (its `sh` blocks: build the image,
 * regenerate the template) run as written from the repository's root. The image was built by this
 * project's global setup, so the build block returns at once; before the worker bundle exists, the
 * stand-in bundle is named through CAIRN_WORKER_BUNDLE, as the guide's script allows.
 */
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));
const guide = readFileSync(`${repositoryRoot}docs/operations/aws.md`, 'utf8');
const blocks = [...guide.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1]!);

it('has the two runnable blocks: the image build and the template synthesis', () => {
  expect(blocks).toHaveLength(2);
  expect(blocks[0]).toContain('build-image.sh');
  expect(blocks[1]).toContain('synth');
});

it('builds (or finds built) the image and inspects it, as written', () => {
  const result = spawnSync('bash', ['-euo', 'pipefail', '-c', blocks[0]!], {
    cwd: repositoryRoot,
    encoding: 'utf8',
    env: { ...process.env, CAIRN_WORKER_BUNDLE: workerBundlePath() },
    timeout: 600_000,
  });
  expect(result.status, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/^digest sha256:[0-9a-f]{64}\nsize \d+\n/);
  expect(result.stdout).toMatch(/"Entrypoint": \[\s*"node",\s*"\/opt\/cairn\/cairn-worker\.js"\s*\]/);
  expect(result.stdout).toContain('"User": "1000:1000"');
});

it('regenerates the template and finds it equal to the committed one, as written', () => {
  const result = spawnSync('bash', ['-euo', 'pipefail', '-c', blocks[1]!], { cwd: repositoryRoot, encoding: 'utf8', timeout: 300_000 });
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
});
