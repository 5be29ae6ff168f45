// composeServer over a config `cairn init` wrote, with an executor given in place of the
// configured one: the engine dispatches onto it, with manifests signed and stored as usual.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionHandle, ExecutionStatus, ExecutorV1, TaskEnvelope } from '@cairn/core';
import { manifestKey } from '@cairn/protocol';
import { afterEach, expect, test, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { composeServer } from './compose-server.ts';
import type { ServerComposition } from './server-composition.ts';

/** Succeeds each task once it has read its manifest from the server's storage; keeps what it read. */
class ManifestReadingExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'manifest-reading';
  readonly capabilities = { cancel: false, pushesCompletions: true } as const;
  readonly manifests = new Map<string, string>();
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();
  readonly composition: () => ServerComposition;
  constructor(composition: () => ServerComposition) {
    this.composition = composition;
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const bytes = await this.composition().storage.get(manifestKey(task.manifestDigest));
    if (bytes === null) throw new Error(`no manifest ${task.manifestDigest} in storage`);
    this.manifests.set(task.executionId, new TextDecoder().decode(bytes));
    setImmediate(() => {
      for (const listener of this.#listeners) listener(task.executionId, { state: 'exited', outcome: 'succeeded', exitCode: 0 });
    });
    return { executor: this.provider, executionId: task.executionId };
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    return this.manifests.has(handle.executionId) ? { state: 'exited', outcome: 'succeeded', exitCode: 0 } : { state: 'unknown' };
  }

  async cancel(): Promise<void> {}

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }
}

const directories: string[] = [];
const compositions: ServerComposition[] = [];
afterEach(async () => {
  for (const composition of compositions.splice(0)) await composition.close();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

test('executors given to composeServer replace the configured one; items that name none use the first', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-compose-'));
  directories.push(directory);
  await initServer(directory);
  let composition: ServerComposition | undefined;
  const executor = new ManifestReadingExecutor(() => composition!);
  composition = await composeServer(loadServerConfig({ directory, env: {} }), { executors: { mine: executor } });
  compositions.push(composition);
  composition.engine.start();
  const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;
  const items = [
    { id: 'a', runtime: { kind: 'command', argv: ['true'] } },
    { id: 'b', dependsOn: ['a'], runtime: { kind: 'command', argv: ['true'] } },
  ];
  const { runId } = composition.engine.submit({ version: 1, name: 'given', items }, { actor });
  const run = await composition.engine.waitForRun(runId);
  expect(run.state).toBe('succeeded');
  expect([...executor.manifests.keys()].sort()).toEqual([`${runId}/a/1`, `${runId}/b/1`]);
  for (const text of executor.manifests.values())
    expect(JSON.parse(text)).toMatchObject({ payloadType: expect.any(String), signatures: [expect.objectContaining({ keyid: expect.any(String) })] });
  // The configured executor is gone: a spec naming it is refused at submit.
  expect(() =>
    composition.engine.submit({ version: 1, name: 'local', items: [{ id: 'x', executor: 'local', runtime: { kind: 'command', argv: ['true'] } }] }, { actor }),
  ).toThrow(/local/);
});

/**
 * Composes the server of `directory` in a fresh Node process (the source, as the CLI runs it) and
 * answers which modules of `@aws-sdk/client-s3`, `@aws-sdk/client-kms`, `@cairn/s3` and `@cairn/kms` it loaded: Node's module hooks see
 * every resolution, which vitest's own module graph would hide.
 */
function modulesLoadedByComposing(directory: string, options: { readonly probe?: boolean } = {}): { loaded: string[]; error?: string } {
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = [];
    registerHooks({ resolve(specifier, context, next) { const found = next(specifier, context); if (/@aws-sdk[\\\\/]client-(s3|kms)|packages[\\\\/](s3|kms)[\\\\/]/.test(found.url)) loaded.push(found.url); return found; } });
    const { loadServerConfig } = await import(${JSON.stringify(new URL('../config/load-server-config.ts', import.meta.url).href)});
    const { composeServer } = await import(${JSON.stringify(new URL('./compose-server.ts', import.meta.url).href)});
    let error;
    try { const composition = await composeServer(loadServerConfig({ directory: ${JSON.stringify(directory)}, env: {} }), { probe: ${options.probe !== false} }); await composition.close(); }
    catch (caught) { error = caught.code + ': ' + caught.message; }
    process.stdout.write(JSON.stringify({ loaded, error }));
  `;
  const child = spawnSync(process.execPath, ['--conditions=@cairn/source', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    env: process.env,
  });
  if (child.status !== 0) throw new Error(`the composing process failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as { loaded: string[]; error?: string };
}

test(
  'a local server never loads @cairn/s3, @cairn/kms nor the AWS SDK: each seam factory imports its package only when the config names its kind',
  { timeout: 60_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-compose-'));
    directories.push(directory);
    await initServer(directory);
    const local = modulesLoadedByComposing(directory);
    expect(local.error).toBeUndefined();
    expect(local.loaded).toEqual([]);
  },
);

test(
  'an S3 config loads @cairn/s3 and probes its seams before the engine is built: a bucket that does not enforce conditional writes is refused, naming the endpoint',
  { timeout: 180_000 },
  async () => {
    const connection = radosgwConnection();
    const client = radosgwClient();
    const location = { endpoint: connection.endpoint, region: connection.region, forcePathStyle: true };
    const directory = mkdtempSync(join(tmpdir(), 'cairn-compose-'));
    directories.push(directory);
    await initServer(directory);
    const configFile = join(directory, 'cairn.config.yaml');
    const initial = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    const useBuckets = (storage: string, anchor: string) =>
      writeFileSync(
        configFile,
        stringifyYaml({
          ...initial,
          storage: { kind: 's3', bucket: storage, prefix: 'cairn/', ...location },
          anchors: [{ kind: 's3-object-lock', bucket: anchor, prefix: 'anchor/', retentionDays: 1, ...location }],
        }),
      );
    for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
    try {
      const anchorBucket = await createTestBucket(client, { objectLock: true });
      useBuckets(await createTestBucket(client), anchorBucket);
      const composed = modulesLoadedByComposing(directory);
      expect(composed.error).toBeUndefined();
      expect(composed.loaded.some((url) => url.includes('client-s3'))).toBe(true);

      // A versioned bucket on this server adds a version on a second if-absent put: last writer wins.
      useBuckets(anchorBucket, anchorBucket);
      const refused = modulesLoadedByComposing(directory);
      expect(refused.error).toMatch(/^CAIRN_STORAGE_UNSUPPORTED: /);
      expect(refused.error).toContain(connection.endpoint);
      // Not probed (as cairn doctor composes), the same config composes.
      expect(modulesLoadedByComposing(directory, { probe: false }).error).toBeUndefined();

      // An anchor bucket without Object Lock could be rewritten: refused too, naming the bucket.
      const plain = await createTestBucket(client);
      useBuckets(await createTestBucket(client), plain);
      const unlocked = modulesLoadedByComposing(directory);
      expect(unlocked.error).toMatch(/^CAIRN_CONFIG_INVALID: .*Object Lock/);
      expect(unlocked.error).toContain(plain);
    } finally {
      vi.unstubAllEnvs();
    }
  },
);
