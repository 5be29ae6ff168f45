// What an item `needs` reaches its sandbox: each selected input of an upstream item — its patch,
// its output.json, its stdout, its stderr — as a file under $CAIRN_INPUTS, through a real server,
// real sandboxes and real storage; and none of them leaks into the consumer's own patch.
import type { RunSpecV1 } from '@cairn/core';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';

const start = runningServers();

const sh = (script: string) => ({ kind: 'command' as const, argv: ['/bin/sh', '-c', script] });

test(
  'needs that select patch, output, stdout and stderr are delivered as files named in CAIRN_INPUTS, one test item per kind',
  { timeout: 90_000 },
  async () => {
    const { composition } = await start();
    const { engine } = composition;
    const spec: RunSpecV1 = {
      version: 1,
      name: 'handoffs',
      items: [
        { id: 'make', runtime: sh(`echo made > made.txt; printf '{"answer":42}' > output.json; echo to-stdout; echo to-stderr >&2`) },
        // Each consumer checks its one input byte for byte, and exits non-zero (failing the run) otherwise.
        {
          id: 'use-patch',
          needs: { change: { from: 'make', select: 'patch' } },
          runtime: sh(`grep -q '^+made$' "$CAIRN_INPUTS/change" && grep -q 'made.txt' "$CAIRN_INPUTS/change" && [ ! -e made.txt ]`),
        },
        { id: 'use-output', needs: { result: { from: 'make', select: 'output' } }, runtime: sh(`[ "$(cat "$CAIRN_INPUTS/result")" = '{"answer":42}' ]`) },
        {
          id: 'use-stdout',
          needs: { said: { from: 'make', select: 'stdout' } },
          runtime: sh(`[ "$(cat "$CAIRN_INPUTS/said")" = 'to-stdout' ] && echo consumed > consumed.txt`),
        },
        {
          id: 'use-stderr',
          needs: { complained: { from: 'make', select: 'stderr' } },
          runtime: sh(`[ "$(cat "$CAIRN_INPUTS/complained")" = 'to-stderr' ] && [ "$CAIRN_INPUTS" = "$HOME/.cairn-inputs" ]`),
        },
      ],
    };
    const { runId } = engine.submit(spec, { actor: { kind: 'user', id: 'ana', via: 'cli' } });
    const run = await engine.waitForRun(runId);
    expect(engine.items(runId).map((item) => [item.itemId, item.state])).toEqual([
      ['make', 'succeeded'],
      ['use-patch', 'succeeded'],
      ['use-output', 'succeeded'],
      ['use-stdout', 'succeeded'],
      ['use-stderr', 'succeeded'],
    ]);
    expect(run.state).toBe('succeeded');
    // The consumer's patch is its own change only: the delivered inputs stay out of it.
    const patchDigest = engine.artifacts(runId, 'use-stdout')?.['patch'];
    expect(patchDigest).toBeDefined();
    const patch = Buffer.from((await composition.storage.get(`blobs/${patchDigest!.slice('sha256:'.length)}`))!).toString('utf8');
    expect(patch).toContain('consumed.txt');
    expect(patch).not.toContain('.cairn-inputs');
  },
);
