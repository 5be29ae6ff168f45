// Merge items through a real server (SQLite, directory storage, the local executor, bubblewrap
// where the machine has it): the guide's example runs as written, and a conflict fails the merge
// with the paths and hunks the guide shows.
import { createCairnClient, type CairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { guideExample } from './guide-example.test-support.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const { blocks, workspace: guideWorkspace } = guideExample('merging-patches.md', 'notes');

/** The run spec of the guide's example (its second yaml block: the first is the one-item sketch). */
const guideSpec = () => blocks('yaml')[1]!;

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
