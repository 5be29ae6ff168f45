// `@cairn/protocol/spec` is what `cairn submit` imports to read a spec before sending it: it must
// build no schema (no zod) and load YAML's parser only for a YAML text. A child process lists the
// module files it loaded (a `module.registerHooks` hook), from the source as the tests run `cairn`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-spec-entry-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const hook = join(scratch, 'list-modules.mjs');
writeFileSync(
  hook,
  `import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { if (url.startsWith('file:')) loaded.push(url); return next(url, context); } });
globalThis.loadedModules = () => loaded.filter((url) => /\\/node_modules\\/(.*\\/)?(zod|yaml)\\//.test(url)).map((url) => /\\/(zod|yaml)\\//.exec(url)[1]);
`,
);

/** Runs `script` (an ES module) from this package's folder with the hook; returns what it printed, parsed. */
function run(script: string): unknown {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  const child = spawnSync(process.execPath, ['--conditions=@cairn/source', '--import', hook, '--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '..', '..'),
    env,
    encoding: 'utf8',
  });
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout) as unknown;
}

test('decoding a spec and parsing a JSON one load neither zod nor yaml; a YAML text loads yaml, and no zod', { timeout: 30_000 }, () => {
  const seen = run(`
    const { decodeRunSpec, parseRunSpec } = await import('@cairn/protocol/spec');
    const stages = {};
    const text = decodeRunSpec(new TextEncoder().encode('{"version": 1, "name": "n", "items": []}'), 'run.json');
    stages.decoded = [...new Set(loadedModules())];
    stages.json = parseRunSpec(text, { source: 'run.json' });
    stages.afterJson = [...new Set(loadedModules())];
    stages.yaml = parseRunSpec('version: 1\\nname: n\\nitems: []\\n', { source: 'run.yaml' });
    stages.afterYaml = [...new Set(loadedModules())];
    console.log(JSON.stringify(stages));
  `);
  const spec = { version: 1, name: 'n', items: [] };
  expect(seen).toEqual({ decoded: [], json: spec, afterJson: [], yaml: spec, afterYaml: ['yaml'] });
});

test("the parser loaded on first use is the very module `import 'yaml'` gives, whichever came first", { timeout: 30_000 }, () => {
  const seen = run(`
    const { parseRunSpec } = await import('@cairn/protocol/spec');
    const before = await import('yaml');
    // A YAML syntax error goes through the lazily loaded parser: its error class must be the imported one's.
    let caught;
    try { parseRunSpec('a: [', { source: 'bad.yaml' }); } catch (error) { caught = error; }
    console.log(JSON.stringify({ code: caught.code, sameClass: caught.cause instanceof before.YAMLParseError, message: caught.message }));
  `);
  expect(seen).toEqual({ code: 'CAIRN_RUN_SPEC_UNPARSABLE', sameClass: true, message: expect.stringMatching(/^bad\.yaml:1:\d+ is not valid YAML: /) });
});

test('the root entry and the spec entry export the same functions', async () => {
  const [root, spec] = await Promise.all([import('@cairn/protocol'), import('@cairn/protocol/spec')]);
  expect([spec.decodeRunSpec, spec.parseRunSpec, spec.runSpecLimits]).toEqual([root.decodeRunSpec, root.parseRunSpec, root.runSpecLimits]);
  expect(spec.decodeRunSpec).toBe(root.decodeRunSpec);
  expect(spec.parseRunSpec).toBe(root.parseRunSpec);
});
