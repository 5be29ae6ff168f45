// The server reaches the engine through its service (`EngineService`), whatever runs the engine:
// in PostgreSQL mode a replica has no engine object to call, only the seam (ADR 0023).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { composeServer } from './compose-server.ts';
import type { ServerComposition } from './server-composition.ts';

const sourceRoot = fileURLToPath(new URL('..', import.meta.url));
/** What the server may do with `Engine` itself: run it. */
const lifecycle = new Set(['start', 'close', 'checkSigner', 'service']);

function serverSources(directory = sourceRoot): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return serverSources(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.test-support.ts') ? [path] : [];
  });
}

const directories: string[] = [];
const compositions: ServerComposition[] = [];
afterEach(async () => {
  for (const composition of compositions.splice(0)) await composition.close();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

test('the server uses the engine object for its lifecycle only; everything else goes through the service', () => {
  const uses: string[] = [];
  for (const file of serverSources()) {
    const text = readFileSync(file, 'utf8');
    // `engine.x` on a variable or on the composition; not `config.engine.x` (the engine's settings),
    // nor the config option `engine.state` named in a message (an Engine has no `state`).
    for (const match of text.matchAll(/(?:(?<![\w.'])|\bcomposition\.)engine\??\.(\w+)/g)) {
      if (match[1] === 'state') continue;
      if (!lifecycle.has(match[1]!)) uses.push(`${relative(sourceRoot, file)}: ${match[0]}`);
    }
    // The engine's type is named where it is composed (and in the composition's type), nowhere else: a
    // route holding an `Engine` could call anything.
    const composing = ['compose-server.ts', 'server-composition.ts'].some((name) => file.endsWith(join('composition', name)));
    if (/import[^;]*\bEngine\b[^;]*from '@cairn\/engine'/.test(text) && !composing) uses.push(`${relative(sourceRoot, file)}: imports Engine`);
  }
  expect(uses).toEqual([]);
});

test('what the server gets to write to the audit log is the host writer: no append of anything else', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-seam-'));
  directories.push(directory);
  await initServer(directory);
  const composition = await composeServer(loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } }));
  compositions.push(composition);
  const { service, engine } = composition;
  // The engine's own service, whose submit first fetches a workspace a spec names by repository
  // (withRepositoryWorkspaces): the same host writer, the same everything else.
  expect(service.hostAudit).toBe(engine.service().hostAudit);
  expect(Object.keys(service.hostAudit).sort()).toEqual([
    'accessDenied',
    'tokenCreated',
    'tokenRevoked',
    'webhookCreated',
    'webhookDisabled',
    'webhookRemoved',
  ]);
  expect('append' in service || 'append' in service.hostAudit || 'append' in engine.audit).toBe(false);
  const draft = {
    actor: { kind: 'system', id: 'server', via: 'http' },
    action: 'run.submitted',
    entity: { kind: 'run', id: 'forged' },
    outcome: 'success',
    runId: 'forged',
    data: {},
  } as const;
  // @ts-expect-error -- the engine's log, as the server sees it, cannot append
  expect(() => engine.audit.append(draft)).toThrow(TypeError);
  // @ts-expect-error -- nor can the host writer append a run's entry
  expect(() => service.hostAudit.append(draft)).toThrow(TypeError);
  // A host method given a run's entry writes nothing of it.
  await expect(service.hostAudit.webhookDisabled(draft as never)).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID' });
  expect(engine.audit.runEntries('forged')).toEqual([]);
  expect([...engine.audit.entries()].filter((entry) => entry.action.startsWith('run.'))).toEqual([]);
});
