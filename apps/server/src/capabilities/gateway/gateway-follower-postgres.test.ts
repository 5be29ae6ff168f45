// The model gateway of a PostgreSQL replica that does not run the engine (ADR 0033): only the
// engine can record a call before its agent hears the end, so such a replica refuses every call
// with a credential of a running attempt, as the HTTP API answers CAIRN_STATE_UNAVAILABLE (503,
// saying to reach the leader's gateway), before anything reaches the provider; the same credential
// works at the leader's gateway. Two replicas in this process, each its own data directory with the
// first one's keys (the gateway's credential key among them), as an operator distributes them.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeWithMounts } from '@cairn/local';
import { afterAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createTestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { AttemptCredentials } from './attempt-credentials.ts';
import { startScriptedModels } from './scripted-models.test-support.ts';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const model = 'gpt-4o-mini';
const operator = { kind: 'user', id: 'operator', via: 'cli' } as const;

/** A replica on `state` with its gateway on a free port, its keys copied from `keysFrom`'s data directory when given. */
async function replica(state: object, providerUrl: string, keysFrom?: string): Promise<{ composition: ServerComposition; dataDirectory: string }> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-gateway-replica-'));
  // Sandboxes start as their own uids and must pass through to their workspaces.
  chmodSync(directory, 0o711);
  cleanups.push(() => removeWithMounts(directory));
  const { configFile } = await initServer(directory);
  writeFileSync(
    configFile,
    stringifyYaml({
      ...(parseYaml(readFileSync(configFile, 'utf8')) as object),
      engine: { state },
      gateway: { enabled: true, providers: { openai: { baseUrl: providerUrl } } },
    }),
  );
  const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  const dataDirectory = loaded.paths.dataDirectory;
  if (keysFrom) {
    for (const key of ['signing.pem', 'cipher.key']) copyFileSync(join(keysFrom, 'keys', key), join(dataDirectory, 'keys', key));
    copyFileSync(join(keysFrom, 'gateway.key'), join(dataDirectory, 'gateway.key'));
  }
  const composition = await composeServer(loaded);
  composition.start();
  cleanups.push(() => composition.close());
  return { composition, dataDirectory };
}

const leads = (composition: ServerComposition) => {
  try {
    return composition.engine !== undefined;
  } catch {
    return false;
  }
};

/** One Chat Completions call through the gateway at `url`: its status, error header and body. */
async function call(url: string, credential: string) {
  const response = await fetch(`${url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  return {
    status: response.status,
    code: response.headers.get('x-cairn-error'),
    body: (await response.json()) as { error?: { message: string; code: string } },
  };
}

test(
  "a call at the gateway of a replica that does not run the engine is refused with 503 CAIRN_STATE_UNAVAILABLE naming the leader's gateway; never sent on",
  { timeout: 60_000 },
  async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const models = await startScriptedModels({ chat: [{ text: 'Done.', usage: { inputTokens: 5, outputTokens: 5 } }], isSideCall: () => false });
    cleanups.push(() => models.close());
    const a = await replica(database.settings, models.baseUrls.openai);
    while (!leads(a.composition)) await sleep(25);
    const b = await replica(database.settings, models.baseUrls.openai, a.dataDirectory);
    expect(leads(b.composition)).toBe(false);

    // An attempt running at the leader, and a credential of it as the leader's engine mints them.
    const { runId } = await a.composition.service.submit(
      { version: 1, name: 'held', items: [{ id: 'work', timeout: '60s', runtime: { kind: 'command', argv: ['sleep', '30'] } }] },
      { actor: operator },
    );
    const executionId = `${runId}/work/1`;
    while (a.composition.engine.liveAttempt(executionId) === undefined) await sleep(25);
    const credentials = await AttemptCredentials.fromKeyFile(join(a.dataDirectory, 'gateway.key'));
    const credential = credentials.mint({ executionId, models: [model], expiresAt: Date.now() + 60_000 });

    const atFollower = await call(b.composition.gatewayUrl!, credential);
    expect(atFollower).toMatchObject({
      status: 503,
      code: 'CAIRN_STATE_UNAVAILABLE',
      body: {
        error: { code: 'CAIRN_STATE_UNAVAILABLE', message: expect.stringContaining('point agents at the gateway of the replica that holds the writer lease') },
      },
    });
    expect(models.turns('chat')).toHaveLength(0);
    // The same credential at the leader's gateway: the call goes through.
    expect(await call(a.composition.gatewayUrl!, credential)).toMatchObject({ status: 200, code: null });
    expect(models.turns('chat')).toHaveLength(1);

    await a.composition.service.cancelRun(runId, operator);
    await a.composition.engine.waitForRun(runId);
  },
);
