import type { AuditEntry } from '@cairn/core';
import { afterEach, expect } from 'vitest';
import { runningServers } from '../../http/running-server.test-support.ts';
import { startScriptedModels, type ModelScript, type ScriptedModels } from './scripted-models.test-support.ts';

type Api = (path: string, init?: RequestInit) => Promise<Response>;

/**
 * A running server with the model gateway on, in front of scripted model endpoints (closed after
 * each test): `provider`'s key is the server secret `PROVIDER_KEY`, set to `providerKey`.
 */
export function gatewayServers() {
  const start = runningServers();
  const endpoints: ScriptedModels[] = [];
  afterEach(async () => {
    for (const endpoint of endpoints.splice(0)) await endpoint.close();
  });
  return async function startGatewayServer(
    script: ModelScript,
    options: {
      /** The provider (or providers) configured, each with the key `providerKey`. */
      readonly provider: 'anthropic' | 'openai' | readonly ('anthropic' | 'openai')[];
      readonly providerKey: string;
      readonly runtimes: Readonly<Record<string, unknown>>;
      /** More of the gateway's settings (quotas, prices). */
      readonly gateway?: Readonly<Record<string, unknown>>;
    },
  ) {
    const models = await startScriptedModels(script);
    endpoints.push(models);
    const server = await start('tokens', {
      config: {
        gateway: {
          enabled: true,
          providers: Object.fromEntries(
            [options.provider].flat().map((provider) => [provider, { baseUrl: models.baseUrls[provider], apiKeySecret: 'PROVIDER_KEY' }]),
          ),
          ...options.gateway,
        },
        runtimes: options.runtimes,
      },
    });
    await server.composition.engine.setSecret('PROVIDER_KEY', options.providerKey, { kind: 'user', id: 'admin', via: 'cli' });
    return { ...server, models };
  };
}

/** Submits a run of one item (`item` over an agent item `write`); the answer as it came. */
export function postAgentRun(api: Api, item: object): Promise<Response> {
  return api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: 1, name: 'agent', items: [{ id: 'write', ...item }] }),
  });
}

/** Submits a run of one item (see `postAgentRun`); its id, once it was accepted. */
export async function submitAgentRun(api: Api, item: object): Promise<string> {
  const response = await postAgentRun(api, item);
  const answer = (await response.json()) as { runId?: string };
  expect(response.status, JSON.stringify(answer)).toBe(201);
  return answer.runId!;
}

/** A stored blob (a patch, a log, a model call's body) as text. */
export async function blobText(composition: { readonly storage: { get(key: string): Promise<Uint8Array | null> } }, digest: unknown): Promise<string> {
  expect(typeof digest).toBe('string');
  return Buffer.from((await composition.storage.get(`blobs/${(digest as string).slice('sha256:'.length)}`))!).toString('utf8');
}

/** The run's `model.called` entries. */
export function modelCallsOf(
  composition: { readonly engine: { readonly audit: { runEntries(runId: string): Iterable<AuditEntry> } } },
  runId: string,
): AuditEntry[] {
  return [...composition.engine.audit.runEntries(runId)].filter((entry) => entry.action === 'model.called');
}

/**
 * Waits until `written(entries)` holds for the run's `model.called` entries (10 s at most), and
 * returns them. A call's entry is written a flush after its answer (ADR 0059), so a test that reads
 * the entries, or the spend counted from them, while the attempt still runs waits for them first.
 */
export async function writtenModelCalls(
  composition: { readonly engine: { readonly audit: { runEntries(runId: string): Iterable<AuditEntry> } } },
  runId: string,
  written: (entries: readonly AuditEntry[]) => boolean,
): Promise<AuditEntry[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const entries = modelCallsOf(composition, runId);
    if (written(entries)) return entries;
    if (Date.now() > deadline)
      throw new Error(
        `run ${runId}: its model calls' entries were not written within 10 s; ${entries.length} so far: ${JSON.stringify(entries.map((entry) => entry.outcome))}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
