// `bash scripts/demo.sh`: what Cairn can do today, against the built packages (dist, as users
// get them): validate the example run specs and show how bad input is reported, then run one
// through the engine and verify its evidence. The server and `cairn` CLI (issue 6) will take
// this over.
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

// A run through the engine: the example spec, executed by an in-process executor whose task
// plays the worker (reads its signed manifest, reports a patch and logs by digest), the gated
// review approved, a checkpoint anchored, and the run's evidence bundle verified — then one word
// of it edited and verified again. (The bubblewrap sandbox arrives with @cairn/local.)
const audit = await load('audit');
const engineModule = await load('engine');
const mocks = await import(pathToFileURL(join(root, 'packages', 'conformance', 'dist', 'mocks', 'index.js')).href);
const { mkdtempSync, rmSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const storage = mocks.createInMemoryStorageProvider();
const signer = mocks.createInMemorySigner();
const anchor = mocks.createInMemoryAuditAnchor();
const key = { keyId: await signer.keyId(), algorithm: signer.algorithm, publicKey: Buffer.from(await signer.publicKey()).toString('base64') };
const worker = async (task) => {
  const envelope = JSON.parse(new TextDecoder().decode(await storage.get(engineModule.manifestKey(task.manifestDigest))));
  const manifest = audit.openManifest(envelope, [audit.trustedKeyFrom(key)]);
  const output = new TextEncoder().encode(`${manifest.itemId}: ran ${JSON.stringify(manifest.runtime)}\n`);
  const result = {
    version: 'cairn.result/v1', runId: manifest.runId, itemId: manifest.itemId, attempt: manifest.attempt, fencingToken: manifest.fencingToken,
    executionId: manifest.executionId, manifestDigest: task.manifestDigest, outcome: 'succeeded', exitCode: 0, startedAt: manifest.issuedAt, finishedAt: manifest.issuedAt,
    artifacts: { patch: protocol.sha256Digest(`patch of ${manifest.itemId}`), stdout: protocol.sha256Digest(output), stderr: protocol.sha256Digest('') },
  };
  await storage.put(engineModule.resultKey(manifest.executionId), protocol.canonicalJsonBytes(result));
  return 0;
};
const directory = mkdtempSync(join(tmpdir(), 'cairn-demo-'));
const engine = engineModule.createEngine({
  database: join(directory, 'cairn.db'),
  executors: { local: mocks.createInMemoryExecutor({ run: worker }) },
  storage,
  signer,
  anchors: [anchor],
  checkpoints: { origin: 'cairn:demo' },
});
engine.start();
const ana = { kind: 'user', id: 'ana', via: 'cli' };
say();
say('$ submit examples/tidy-logging.yaml');
const { runId } = engine.submit(readFileSync(join(examples, 'tidy-logging.yaml'), 'utf8'), { actor: ana, source: 'tidy-logging.yaml' });
say(`run ${runId} submitted`);
while (!engine.items(runId).some((item) => item.state === 'awaiting-approval')) await new Promise((resolve) => setTimeout(resolve, 5));
say('item review is awaiting approval; approving as bo');
engine.approve(runId, 'review', { kind: 'user', id: 'bo', via: 'cli' });
const run = await engine.waitForRun(runId);
say(`run ${run.state}: ${engine.items(runId).map((item) => `${item.itemId} ${item.state}`).join(', ')}`);
const bundle = await engine.exportBundle(runId);
const bytes = audit.serializeEvidenceBundle(bundle);
await engine.close();
rmSync(directory, { recursive: true, force: true });
say();
say(`$ verify ${runId}.bundle.json   (${bytes.byteLength} bytes, ${bundle.entries.length} entries, ${bundle.manifests.length} signed manifests, ${bundle.artifacts.length} artifacts)`);
const show = (report) => {
  say(`valid: ${report.valid}, claim: ${report.claim}`);
  for (const check of report.checks) say(`  ${check.status.padEnd(11)} ${check.name.padEnd(20)} ${check.detail}`);
};
show(await audit.verifyBundle(bytes, { trustedKeys: [key], readAnchor: (wanted) => anchor.read(wanted) }));
const tampered = Buffer.from(new TextDecoder().decode(bytes).replace('"id":"bo"', '"id":"eve"'));
say();
say('$ verify the same bundle with the approver renamed from bo to eve');
show(await audit.verifyBundle(tampered, { trustedKeys: [key] }));

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
