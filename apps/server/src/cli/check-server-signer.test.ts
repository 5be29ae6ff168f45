// A server folder whose signing key file changes (ADR 0019): refused without config.previousSigner,
// handed over with it (the old key signs the rotation), and `cairn audit verify-log`, which trusts
// only the server's current key, still verifies the whole log through the handover.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInMemoryExecutor } from '@cairn/conformance/mocks';
import { createLocalSigner } from '@cairn/local';
import { isCairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { composeServer } from '../composition/compose-server.ts';
import type { ServerComposition } from '../composition/server-composition.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { verifyServerLog } from '../capabilities/evidence/verify-server-log.ts';
import { checkServerSigner } from './check-server-signer.ts';
import { initServer } from './init-server.ts';

const directories: string[] = [];
const compositions: ServerComposition[] = [];
afterEach(async () => {
  for (const composition of compositions.splice(0)) await composition.close();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;

async function compose(directory: string): Promise<ServerComposition> {
  const composition = await composeServer(loadServerConfig({ directory, env: {} }), { executors: { local: createInMemoryExecutor({ run: async () => 0 }) } });
  compositions.push(composition);
  return composition;
}

async function oneRun(composition: ServerComposition): Promise<void> {
  composition.engine.start();
  const { runId } = composition.engine.submit({ version: 1, name: 'one', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] }, { actor });
  expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
}

async function closeAll(): Promise<void> {
  for (const composition of compositions.splice(0)) await composition.close();
}

test(
  'a new config.signer is refused without previousSigner, handed over with it, and verify-log passes with the new key alone',
  { timeout: 60_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-server-rotation-'));
    directories.push(directory);
    const { configFile } = await initServer(directory);
    const oldKeyFile = loadServerConfig({ directory, env: {} }).paths.signingKey;
    const oldKeyId = await createLocalSigner({ keyFile: oldKeyFile }).keyId();
    await oneRun(await compose(directory));
    await closeAll();

    const newKeyFile = join(directory, 'signing-2026.pem');
    const newKeyId = await createLocalSigner({ keyFile: newKeyFile, create: true }).keyId();
    const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(configFile, stringifyYaml({ ...config, signer: { kind: 'local', keyFile: newKeyFile } }));
    const refused = await checkServerSigner(await compose(directory), loadServerConfig({ directory, env: {} })).catch((error: unknown) => error);
    expect(isCairnError(refused, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect(refused).toMatchObject({ path: 'config.signer' });
    expect((refused as Error).message).toContain(`config.signer's key ${newKeyId}`);
    expect((refused as Error).message).toContain(`is not the key this server's audit log is signed with (${oldKeyId})`);
    expect((refused as Error).message).toContain('set previousSigner to the old key');
    await closeAll();

    // A local previous signer must say where the old key is.
    writeFileSync(configFile, stringifyYaml({ ...config, signer: { kind: 'local', keyFile: newKeyFile }, previousSigner: { kind: 'local' } }));
    expect(() => loadServerConfig({ directory, env: {} })).toThrow(/previousSigner\.keyFile/);

    writeFileSync(
      configFile,
      stringifyYaml({ ...config, signer: { kind: 'local', keyFile: newKeyFile }, previousSigner: { kind: 'local', keyFile: oldKeyFile } }),
    );
    const loaded = loadServerConfig({ directory, env: {} });
    const rotated = await compose(directory);
    expect(await checkServerSigner(rotated, loaded)).toMatchObject({ rotated: true, keyId: newKeyId, fromKeyId: oldKeyId });
    expect(rotated.signingKey.keyId).toBe(newKeyId);
    await oneRun(rotated);
    await closeAll();

    const verification = await verifyServerLog(loaded);
    expect(verification).toMatchObject({ valid: true });
    expect(verification.checkpointsChecked).toBeGreaterThanOrEqual(3);
  },
);
