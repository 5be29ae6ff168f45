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

// The proof of what ran: a run's audit entries in a Merkle log, a signed checkpoint anchored
// through a real AuditAnchorV1, the evidence bundle, its verification, and one flipped byte.
const audit = await load('audit');
const mocks = await import(pathToFileURL(join(root, 'packages', 'conformance', 'dist', 'mocks', 'index.js')).href);
const signer = mocks.createInMemorySigner();
const publicKey = await signer.publicKey();
const key = { keyId: await signer.keyId(), algorithm: signer.algorithm, publicKey: Buffer.from(publicKey).toString('base64') };
const spec = protocol.loadRunSpec(readFileSync(join(examples, 'tidy-logging.yaml'), 'utf8')).spec;
const log = audit.MerkleLog.open();
const entries = [];
const append = (action, entity, data) => {
  const entry = { seq: log.size, time: new Date(Date.UTC(2026, 10, 22, 10, 0, log.size)).toISOString(), actor: { kind: 'user', id: 'demo', via: 'cli' }, action, entity, outcome: 'success', runId: 'demo-run', runSeq: entries.length, data };
  log.append(audit.auditEntryBytes(entry));
  entries.push(entry);
};
append('run.submitted', { kind: 'run', id: 'demo-run' }, { specDigest: protocol.digestOfJson(spec) });
append('run.started', { kind: 'run', id: 'demo-run' }, {});
append('run.cancelled', { kind: 'run', id: 'demo-run' }, { reason: 'a demo runs nothing yet' });
const head = { origin: 'cairn:demo', treeSize: log.size, rootHash: Buffer.from(log.rootHash()).toString('hex'), time: '2026-11-22T10:01:00.000Z' };
const checkpoint = await audit.signCheckpoint(head, signer);
const anchor = mocks.createInMemoryAuditAnchor();
const receipt = await audit.signReceipt(await anchor.anchor({ ...head, envelope: audit.anchorEnvelopeBytes(checkpoint) }), signer);
const bundle = audit.buildEvidenceBundle({ runId: 'demo-run', spec, entries, proofs: log, checkpoint, anchors: [receipt], keys: [key], manifests: [] });
const bytes = audit.serializeEvidenceBundle(bundle);
say();
say(`$ verify demo-run.bundle.json   (${bytes.byteLength} bytes, ${entries.length} entries, root ${head.rootHash.slice(0, 16)}...)`);
const show = (report) => {
  say(`valid: ${report.valid}, claim: ${report.claim}`);
  for (const check of report.checks) say(`  ${check.status.padEnd(11)} ${check.name.padEnd(20)} ${check.detail}`);
};
show(await audit.verifyBundle(bytes, { trustedKeys: [key], readAnchor: (wanted) => anchor.read(wanted) }));
const tampered = Buffer.from(new TextDecoder().decode(bytes).replace('a demo runs nothing yet', 'a demo ran everything!'));
say();
say('$ verify the same bundle with one reason edited');
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
