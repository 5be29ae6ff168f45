// `bash scripts/demo.sh`: what Cairn can do today, against the built packages (dist, as users
// get them). Until the engine and the CLI exist (issues 4-6) it validates the example run specs
// and shows how bad input is reported; later issues extend it to a full run with evidence.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const load = (name) => import(pathToFileURL(join(root, 'packages', name, 'dist', 'index.js')).href);
const protocol = await load('protocol');
const say = (text = '') => process.stdout.write(`${text}\n`);

say('Cairn packages built here:');
for (const folder of readdirSync(join(root, 'packages')).sort()) {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', folder, 'package.json'), 'utf8'));
  say(`  ${manifest.name.padEnd(20)} ${manifest.version}  ${manifest.description ?? ''}`);
}

const examples = join(root, 'examples');
for (const file of ['tidy-logging.yaml', 'broken.yaml']) {
  const path = join(examples, file);
  say();
  say(`$ validate ${relative(root, path)}`);
  const result = protocol.validateRunSpec(protocol.parseRunSpec(readFileSync(path, 'utf8'), { source: file }));
  if (!result.ok) {
    say(`refused, ${result.issues.length} problems:`);
    for (const issue of result.issues) say(`  ${issue.code}  ${issue.path}  ${issue.message}`);
    continue;
  }
  say(`valid: run "${result.spec.name}", spec digest ${result.digest}`);
  for (const [depth, ids] of waves(result.spec).entries()) say(`  wave ${depth + 1}: ${ids.join(', ')}`);
}

/** Items grouped by how many dependency levels are above them: what may run side by side. */
function waves(spec) {
  const depth = new Map();
  const prerequisites = (item) => [...(item.dependsOn ?? []), ...Object.values(item.needs ?? {}).map((need) => need.from)];
  const byId = new Map(spec.items.map((item) => [item.id, item]));
  const levelOf = (id) => {
    if (!depth.has(id)) depth.set(id, Math.max(-1, ...prerequisites(byId.get(id)).map(levelOf)) + 1);
    return depth.get(id);
  };
  const result = [];
  for (const item of spec.items) (result[levelOf(item.id)] ??= []).push(item.id);
  return result;
}
