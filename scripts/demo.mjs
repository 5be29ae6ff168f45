// `bash scripts/demo.sh`: what Cairn can do today, against the built packages (dist, as users
// get them): validate the example run specs and show how bad input is reported, then run the demo
// run over a sample repository in bubblewrap sandboxes and verify its evidence. The server and
// `cairn` CLI (issue 6) will take this over as `cairn demo`.
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

// A run through the engine on one machine, for real: the sample repository in examples/demo/repo
// copied and snapshotted, the local seams (directory storage, key-file signer, file anchor), and
// the local executor running each item's command in a bubblewrap sandbox. Then the same run again
// (its pure check is reused), the evidence bundle verified — and one word of it edited.
const audit = await load('audit');
const engineModule = await load('engine');
const local = await load('local');
const workerModule = await load('worker');
const { cpSync, existsSync, mkdtempSync, rmSync, chmodSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const { execFileSync } = await import('node:child_process');

const directory = mkdtempSync(join(tmpdir(), 'cairn-demo-'));
// Sandboxes start as their own unprivileged uid and must pass through to their workspaces.
chmodSync(directory, 0o711);
const repository = join(directory, 'sample');
cpSync(join(examples, 'demo', 'repo'), repository, { recursive: true });
const git = (...args) => execFileSync('git', ['-c', 'user.name=demo', '-c', 'user.email=demo@example.invalid', ...args], { cwd: repository, env: { PATH: process.env.PATH, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
git('init', '--quiet');
git('add', '--all');
git('commit', '--quiet', '-m', 'sample');

const storage = local.createLocalStorageProvider({ root: join(directory, 'storage') });
const signer = local.createLocalSigner({ keyFile: join(directory, 'keys', 'signing.pem'), create: true });
const anchor = local.createLocalAuditAnchor({ directory: join(directory, 'anchor') });
const key = { keyId: await signer.keyId(), algorithm: signer.algorithm, publicKey: Buffer.from(await signer.publicKey()).toString('base64') };
const sandboxed = existsSync('/usr/bin/bwrap') && process.getuid?.() === 0;
if (!sandboxed) say('\n(bubblewrap needs root and /usr/bin/bwrap here: running WITHOUT a sandbox, which the manifests will say)');
const executor = local.createLocalExecutor({ storage, trustedKeys: [key], stateDirectory: join(directory, 'executions'), workRoot: join(directory, 'work'), sandbox: sandboxed ? 'bubblewrap' : 'none' });
const engine = engineModule.createEngine({ database: join(directory, 'cairn.db'), executors: { local: executor }, storage, signer, anchors: [anchor], checkpoints: { origin: 'cairn:demo' }, inboxPollMs: false });
engine.start();

say();
say(`$ snapshot ${relative(root, join(examples, 'demo', 'repo'))} (as a git repository)`);
const snapshot = await workerModule.snapshotWorkspace(repository);
await storage.put(protocol.blobKey(snapshot.digest), snapshot.bytes);
say(`${snapshot.entries} files, ${snapshot.bytes.byteLength} bytes, ${snapshot.digest}`);

const ana = { kind: 'user', id: 'ana', via: 'cli' };
const bo = { kind: 'user', id: 'bo', via: 'cli' };
const spec = { ...protocol.parseRunSpec(readFileSync(join(examples, 'demo', 'run.yaml'), 'utf8'), { source: 'run.yaml' }), workspace: { snapshot: snapshot.digest } };

/** Submits the run, shows each item's moves as they happen, approves the gated one, and waits. */
async function runAndWatch(name) {
  say();
  say(`$ submit examples/demo/run.yaml  (${name})`);
  const { runId } = engine.submit({ ...spec, name }, { actor: ana, source: 'run.yaml' });
  say(`run ${runId}`);
  const started = performance.now();
  const controller = new AbortController();
  const watching = (async () => {
    for await (const event of engine.events({ runId, signal: controller.signal })) {
      const at = `${String(Math.round(performance.now() - started)).padStart(5)} ms`;
      if (event.type === 'item.state') {
        say(`  ${at}  ${event.itemId.padEnd(12)} ${event.state}`);
        if (event.state === 'awaiting-approval') {
          say(`  ${at}  ${''.padEnd(12)} (approved by bo)`);
          engine.approve(runId, event.itemId, bo);
        }
      }
      if (event.type === 'run.state' && ['succeeded', 'failed', 'cancelled'].includes(event.state)) break;
    }
  })();
  const run = await engine.waitForRun(runId);
  controller.abort();
  await watching;
  say(`run ${run.state} in ${Math.round(performance.now() - started)} ms`);
  return runId;
}

const first = await runAndWatch('sample-headers');
say();
say('patches (stored by digest; what a reviewer reads):');
for (const entry of engine.audit.runEntries(first).filter((entry) => entry.action === 'attempt.completed')) {
  const { patch, stdout } = entry.data.artifacts;
  const output = new TextDecoder().decode(await storage.get(protocol.blobKey(stdout))).trim();
  if (!patch) {
    say(`  ${entry.data.itemId.padEnd(12)} no change; said: ${output.split('\n').join(' | ')}`);
    continue;
  }
  const text = new TextDecoder().decode(await storage.get(protocol.blobKey(patch)));
  const files = text.split('\n').filter((line) => line.startsWith('diff --git')).map((line) => line.split(' b/')[1]);
  const added = text.split('\n').filter((line) => line.startsWith('+') && !line.startsWith('+++')).length;
  const removed = text.split('\n').filter((line) => line.startsWith('-') && !line.startsWith('---')).length;
  say(`  ${entry.data.itemId.padEnd(12)} ${files.join(', ')}  +${added} -${removed}  ${patch.slice(0, 19)}…`);
}

const second = await runAndWatch('sample-headers, again');
const reused = engine.audit.runEntries(second).find((entry) => entry.action === 'item.reused');
if (reused) say(`verify was not run again: its inputs had the same digest, so run ${reused.data.from.runId}'s result was reused`);

const bundle = await engine.exportBundle(first);
const bytes = audit.serializeEvidenceBundle(bundle);
const isolation = [...new Set(bundle.manifests.map(({ envelope }) => JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')).limits.isolation))].join(', ');
await engine.close();
say();
say(`$ verify ${first}.bundle.json   (${bytes.byteLength} bytes, ${bundle.entries.length} entries, ${bundle.manifests.length} signed manifests (isolation: ${isolation}), ${bundle.artifacts.length} artifacts)`);
const show = (report) => {
  say(`valid: ${report.valid}, claim: ${report.claim}`);
  for (const check of report.checks) say(`  ${check.status.padEnd(11)} ${check.name.padEnd(20)} ${check.detail}`);
};
show(await audit.verifyBundle(bytes, { trustedKeys: [key], readAnchor: (wanted) => anchor.read(wanted) }));
const tampered = Buffer.from(new TextDecoder().decode(bytes).replace('"id":"bo"', '"id":"eve"'));
say();
say('$ verify the same bundle with the approver renamed from bo to eve');
show(await audit.verifyBundle(tampered, { trustedKeys: [key] }));
rmSync(directory, { recursive: true, force: true });

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
