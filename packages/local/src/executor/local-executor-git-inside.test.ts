import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DispatchManifest, ExecutionHandle, ResultRecord, RuntimeSpec } from '@cairn/core';
import { blobKey } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { describe, expect, test } from 'vitest';
import { createLocalExecutor, type LocalExecutor } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';

type World = ReturnType<typeof executorWorld>;

const limits: Partial<DispatchManifest> = { limits: { timeoutMs: 30_000, network: false, maxPatchBytes: 1_000_000, maxLogBytes: 1_000_000 } };

async function resultOf(world: World, executor: LocalExecutor, handle: ExecutionHandle): Promise<ResultRecord> {
  for (let wait = 0; wait < 1_600 && (await executor.inspect(handle)).state !== 'exited'; wait++) await sleep(25);
  return JSON.parse(new TextDecoder().decode((await world.storage.get(`results/${handle.executionId}.json`))!)) as ResultRecord;
}

async function textOf(world: World, digest: string | undefined): Promise<string> {
  return digest === undefined ? '' : new TextDecoder().decode((await world.storage.get(blobKey(digest)))!);
}

// Run with the snapshot cache (a layer over the host's tree) and without it (the snapshot extracted):
// either way the workspace is a git checkout of the snapshot the item may use freely.
describe.each([
  ['over the snapshot cache', true],
  ['with the snapshot extracted', false],
])('git inside an item’s workspace (%s)', (_, cached) => {
  test(
    "git log (the repository's history under the snapshot's commit), status and commit work; the patch is the working tree against the snapshot, commits or not; planted git config never runs on the host",
    { timeout: 60_000 },
    async () => {
      const world = executorWorld();
      try {
        const executor = createLocalExecutor({
          storage: world.storage,
          trustedKeys: [world.key],
          stateDirectory: world.stateDirectory,
          workRoot: world.workRoot,
          snapshotCache: { enabled: cached },
        });
        // A host path planted config and hooks would write to, were they ever run on the host.
        const marker = join(world.workRoot, 'planted-ran');
        // The user's repository, its config and hooks planted to run a command whenever git looks at it.
        const source = join(world.workRoot, 'source');
        mkdirSync(join(source, 'src'), { recursive: true });
        writeFileSync(join(source, 'notes.txt'), 'one\ntwo\n');
        writeFileSync(join(source, 'src/main.sh'), '#!/bin/sh\necho main\n', { mode: 0o755 });
        const git = (...args: string[]) => execFileSync('git', ['-C', source, '-c', 'user.name=user', '-c', 'user.email=user@example.invalid', ...args]);
        git('init', '-q');
        git('add', '--all');
        git('commit', '-qm', 'the user’s commit');
        git('config', 'core.fsmonitor', `touch ${marker}`);
        writeFileSync(join(source, '.git/hooks/post-checkout'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
        const { bytes: snapshot, digest } = await snapshotWorkspace(source, { history: 10 });
        expect(existsSync(marker)).toBe(false);
        await world.storage.put(blobKey(digest), snapshot);
        const script = [
          'set -e',
          'git log -1 --format=%s',
          // The repository's own history is below the snapshot's commit.
          'git log -1 --format=%s HEAD~1',
          'test -z "$(git status --porcelain)" && echo clean',
          'echo three >> notes.txt',
          'git -c user.name=agent -c user.email=agent@example.invalid commit -qam "the agent’s own commit"',
          'git log -1 --format=%s',
          'echo new > added.txt',
          'git status --porcelain',
          // What an agent could plant for the worker's git on the host: a filesystem monitor and hooks.
          `git config core.fsmonitor "touch ${marker}"`,
          `printf '#!/bin/sh\\ntouch ${marker}\\n' > .git/hooks/post-index-change && chmod +x .git/hooks/post-index-change`,
          `git config core.hooksPath .git/hooks`,
        ].join('\n');
        const runtime: RuntimeSpec = { kind: 'command', argv: ['/bin/sh', '-c', script] };
        const result = await resultOf(world, executor, await executor.start(world.task('run-1/git-user/1', runtime, { ...limits, workspace: digest })));
        const stdout = await textOf(world, result.artifacts.stdout);
        expect(result.outcome, `${stdout}\n${await textOf(world, result.artifacts.stderr)}`).toBe('succeeded');
        expect(stdout).toBe('cairn: the workspace snapshot\nthe user’s commit\nclean\nthe agent’s own commit\n?? added.txt\n');
        const patch = await textOf(world, result.artifacts.patch);
        expect(patch).toContain('diff --git a/notes.txt b/notes.txt');
        expect(patch).toContain('+three');
        expect(patch).toContain('diff --git a/added.txt b/added.txt');
        expect(patch).not.toContain('.git/');
        expect(result.patchStats?.filesChanged).toBe(2);
        expect(existsSync(marker)).toBe(false);
      } finally {
        world.cleanUp();
      }
    },
  );
});
