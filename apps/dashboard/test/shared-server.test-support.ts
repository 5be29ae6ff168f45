import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { initServer } from '../../server/src/cli/init-server.ts';
import { composeServer } from '../../server/src/composition/compose-server.ts';
import { loadServerConfig } from '../../server/src/config/load-server-config.ts';
import { httpApiSettingsOf } from '../../server/src/http/http-api-settings.ts';
import { buildHttpApi } from '../../server/src/http/http-server.ts';

/** A started server: its address, the operator's token, and `fetch` against it as the operator. */
export interface SharedServer {
  readonly base: string;
  readonly operatorToken: string;
  readonly api: (path: string, init?: RequestInit) => Promise<Response>;
}

/**
 * Call at the top of a test file whose tests look at the same runs: `start()` (in a `beforeAll`)
 * makes one server as `cairn init` + `cairn serve` would, and it is closed after the file's last
 * test — one server per file instead of one per test (`runningServers` in apps/server), which
 * keeps the browser tests' time down.
 */
export function sharedServer(): () => Promise<SharedServer> {
  let close: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await close?.();
  });
  return async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-server-'));
    // Sandboxes start as their own uids and must pass through to their workspaces.
    chmodSync(directory, 0o711);
    const { operatorToken } = await initServer(directory);
    const loaded = loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
    const composition = await composeServer(loaded);
    const app = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1', auth: 'tokens' });
    composition.start();
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${operatorToken}`, ...(init.headers as Record<string, string> | undefined) } });
    close = async () => {
      // A running attempt keeps its workspace mounted: every run is ended first (cancelled if need be).
      await endEveryRun(api);
      await app.close();
      await composition.close();
      rmSync(directory, { recursive: true, force: true });
    };
    return { base, operatorToken, api };
  };
}

/** Cancels every run that has not ended, then waits (up to 30 s) until none runs. */
async function endEveryRun(api: SharedServer['api']): Promise<void> {
  const live = async () =>
    ((await (await api('/v1/runs?limit=200')).json()) as { runs: { runId: string; finishedAt: string | null }[] }).runs.filter(
      (run) => run.finishedAt === null,
    );
  for (const run of await live()) await api(`/v1/runs/${run.runId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  for (const deadline = Date.now() + 30_000; Date.now() < deadline && (await live()).length > 0;) await new Promise((resolve) => setTimeout(resolve, 200));
}

/** Waits (polling the API, up to 60 s) until the run has ended; usable in a `beforeAll`, where `expect.poll` is not. */
export async function runEnds(api: SharedServer['api'], runId: string): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
    const run = (await (await api(`/v1/runs/${runId}`)).json()) as { finishedAt: string | null };
    if (run.finishedAt !== null) return;
  }
  throw new Error(`run ${runId} did not end within 60 s`);
}
