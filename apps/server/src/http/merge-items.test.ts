// Merge items through a real server (SQLite, directory storage, the local executor, bubblewrap
// where the machine has it): the guide's example runs as written, a conflict fails the merge
// with the paths and hunks the guide shows, and with onConflict: rerun the producer runs again.
import { verifyBundle } from '@cairn/audit';
import { createCairnClient, type CairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { runCli } from '../cli/run-cli.test-support.ts';
import { guideExample } from './guide-example.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const { blocks, spec, workspace: guideWorkspace } = guideExample('merging-patches.md', 'notes');

/** The run spec of the guide's example. */
const guideSpec = () => spec('fan-in');

async function runToEnd(client: CairnClient, spec: string, workspace: string) {
  const { runId } = await client.submit(spec, { workspace });
  const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) });
  const items = await client.items(runId);
  return { runId, run, items, item: (itemId: string) => items.find((item) => item.itemId === itemId)! };
}

test("the guide's example: three patches and one that changed nothing merge into one, which the next item applies", { timeout: 90_000 }, async () => {
  const { base, operatorToken } = await start();
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const { runId, run, items } = await runToEnd(client, guideSpec(), guideWorkspace());
  expect(run.state, JSON.stringify(items, null, 2)).toBe('succeeded');
  expect(items.map(({ itemId, state }) => [itemId, state])).toEqual([
    ['alpha', 'succeeded'],
    ['beta', 'succeeded'],
    ['gamma', 'succeeded'],
    ['lint', 'succeeded'],
    ['combine', 'succeeded'],
    ['check', 'succeeded'],
  ]);
  const artifactsOf = async (itemId: string) => ((await client.attempts(runId, itemId)).at(-1)!['artifacts'] ?? {}) as Record<string, string>;
  expect(await artifactsOf('lint')).not.toHaveProperty('patch');

  const combined = await client.patch(runId, 'combine');
  expect(combined).toContain('-alpha: todo\n+alpha: done\n');
  expect(combined).toContain('-beta: todo\n+beta: done\n');
  expect(combined).toContain('+++ b/GAMMA.md\n');
  expect(combined.match(/^diff --git /gm)).toHaveLength(2);

  // The merge's signed manifest names each patch it merged by digest, under its item's id.
  const [attempt] = await client.attempts(runId, 'combine');
  const envelope = JSON.parse(Buffer.from(await client.blob(attempt!.manifestDigest)).toString('utf8')) as { payload: string };
  const manifest = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { runtime: unknown; inputs: Record<string, unknown> };
  expect(manifest.runtime).toEqual({ kind: 'merge', from: ['alpha', 'beta', 'gamma', 'lint'] });
  expect(manifest.inputs).toEqual({
    alpha: { from: 'alpha', select: 'patch', digest: (await artifactsOf('alpha'))['patch'] },
    beta: { from: 'beta', select: 'patch', digest: (await artifactsOf('beta'))['patch'] },
    gamma: { from: 'gamma', select: 'patch', digest: (await artifactsOf('gamma'))['patch'] },
  });
});

test(
  'two items changing the same line: the merge fails with CAIRN_MERGE_CONFLICT, the producer, the path and the hunks the guide shows',
  { timeout: 90_000 },
  async () => {
    const { base, operatorToken } = await start();
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const spec = guideSpec().replace('s/^beta: todo$/beta: done/', 's/^alpha: todo$/alpha: DONE/');
    expect(spec).toContain('alpha: DONE');
    const { run, item } = await runToEnd(client, spec, guideWorkspace());
    expect(run.state).toBe('failed');
    expect(item('combine')).toMatchObject({ state: 'failed', failure: { code: 'CAIRN_MERGE_CONFLICT', exitCode: null } });
    expect(item('check').state).toBe('skipped');
    // The guide's block, as the message says it (the guide wraps its first sentences).
    const words = (text: string) => text.replace(/\s+/g, ' ').trim();
    const shown = blocks('text')[0]!;
    expect(words(item('combine').failure!.message)).toBe(words(shown));
  },
);

test(
  "the guide's rerun example: beta's conflicting patch is made again on alpha's, as combine/beta, and the merge then holds both; the bundle proves the item it added",
  { timeout: 90_000 },
  async () => {
    const { base, operatorToken, composition } = await start();
    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const { runId, run, items, item } = await runToEnd(client, spec('release-notes'), guideWorkspace());
    expect(run.state, JSON.stringify(items, null, 2)).toBe('succeeded');
    expect(items.map(({ itemId, state }) => [itemId, state])).toEqual([
      ['alpha', 'succeeded'],
      ['beta', 'succeeded'],
      ['combine', 'succeeded'],
      ['combine/beta', 'succeeded'],
    ]);
    expect(item('combine').failure).toBeNull();
    const attempts = await client.attempts(runId, 'combine');
    expect(attempts.map((attempt) => [attempt.state, attempt.failure?.code])).toEqual([
      ['failed', 'CAIRN_MERGE_CONFLICT'],
      ['succeeded', undefined],
    ]);
    // `cairn status` shows the merge's first attempt failed with the conflict at beta, as the guide says.
    const status = await runCli(['status', runId, '--server', base], { env: { CAIRN_TOKEN: operatorToken } });
    expect(status.stdout, status.stderr).toMatch(
      /^combine attempt 1 failed: CAIRN_MERGE_CONFLICT The patch of item "beta" \(runtime\.from\[1\]\) conflicts with what was merged before it \("alpha"\) at path: NOTES\.md\..* \(re-ran beta as combine\/beta\)$/m,
    );
    expect(status.stdout).not.toContain('<<<<<<<');
    const combined = await client.patch(runId, 'combine');
    expect(combined).toContain(' beta: todo\n+\n+alpha: released\n+\n+beta: released\n');
    // The re-run applied alpha's patch first: its own patch is beta's line after alpha's.
    expect(await client.patch(runId, 'combine/beta')).toContain(' alpha: released\n+\n+beta: released\n');

    const entries = [...composition.engine.audit.runEntries(runId)];
    expect(entries.filter((entry) => entry.action === 'run.extended').map((entry) => entry.data)).toEqual([
      { attempt: 1, emitter: 'combine', items: 1, rerun: { item: 'combine/beta', merged: ['alpha'], producer: 'beta' } },
    ]);
    expect(entries.find((entry) => entry.action === 'item.blocked')).toMatchObject({ entity: { id: `${runId}/combine` }, data: { because: 'combine/beta' } });

    const bundle = await (await fetch(`${base}/v1/runs/${runId}/bundle`, { headers: { authorization: `Bearer ${operatorToken}` } })).text();
    const verify = (text: string) =>
      verifyBundle(new TextEncoder().encode(text), { trustedKeys: [composition.signingKey], readAnchor: (receipt) => composition.anchors[0]!.read(receipt) });
    const report = await verify(bundle);
    expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true });
    expect(report.checks.find((check) => check.name === 'completeness')?.detail).toContain("the spec's 3 items and 1 re-run of merged items");
    // An entry that names another re-run, or an item no entry added, fails completeness, named.
    const parsed = JSON.parse(bundle) as { entries: { action: string; entity: { id: string }; data: Record<string, unknown> }[] };
    const edited = (edit: (entry: (typeof parsed.entries)[number]) => (typeof parsed.entries)[number]) =>
      JSON.stringify({ ...parsed, entries: parsed.entries.map(edit) });
    const completeness = async (text: string) => (await verify(text)).checks.find((check) => check.name === 'completeness')!;
    const otherProducer = edited((entry) =>
      entry.action === 'run.extended' ? { ...entry, data: { ...entry.data, rerun: { item: 'combine/beta', merged: [], producer: 'alpha' } } } : entry,
    );
    expect(await completeness(otherProducer)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('names re-run item combine/beta, not combine/alpha'),
    });
    const unnamed = edited((entry) =>
      entry.entity.id === `${runId}/combine/beta` ? { ...entry, entity: { ...entry.entity, id: `${runId}/combine/gamma` } } : entry,
    );
    expect(await completeness(unnamed)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('is about item combine/gamma, which neither the spec nor a fragment holds'),
    });
    // The merge's second attempt merged the re-run's patch in beta's place, named after it.
    const envelope = JSON.parse(Buffer.from(await client.blob(attempts[1]!.manifestDigest)).toString('utf8')) as { payload: string };
    const manifest = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { inputs: Record<string, { from: string }> };
    expect(manifest.inputs['beta']?.from).toBe('combine/beta');
  },
);
