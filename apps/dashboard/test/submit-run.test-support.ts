import { expect } from 'vitest';

type Api = (path: string, init?: RequestInit) => Promise<Response>;

/** Submits `spec` through the API (as the operator); its run id. */
export async function submitRun(api: Api, spec: object): Promise<string> {
  const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  expect(response.status, await response.clone().text()).toBe(201);
  return ((await response.json()) as { runId: string }).runId;
}

/** Waits (polling the API) until the run is in one of `states`. */
export async function runReaches(api: Api, runId: string, states: readonly string[] = ['succeeded', 'failed', 'cancelled']): Promise<void> {
  await expect
    .poll(async () => ((await (await api(`/v1/runs/${runId}`)).json()) as { state: string }).state, { timeout: 60_000, interval: 200 })
    .toSatisfy((state: string) => states.includes(state));
}

/** A command item: `/bin/sh -c script`. */
export function shell(id: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, runtime: { kind: 'command', argv: ['/bin/sh', '-c', script] }, ...extra };
}
