// The gateway's credential key file: made once, whole, however many servers sharing the folder
// start at once, so that every replica accepts the credentials any of them issues.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { AttemptCredentials } from './attempt-credentials.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

test('servers starting at once on one folder make one key, each reads it whole, and they accept each other’s credentials', async () => {
  for (let round = 0; round < 20; round++) {
    const folder = mkdtempSync(join(tmpdir(), 'cairn-gateway-key-'));
    folders.push(folder);
    const path = join(folder, 'gateway.key');
    const servers = await Promise.all(Array.from({ length: 4 }, () => AttemptCredentials.fromKeyFile(path)));
    const credential = servers[0]!.mint({ executionId: 'r-1/write/1', models: ['gpt-4o'], expiresAt: Date.now() + 60_000 });
    for (const server of servers) expect(server.verify(credential)?.executionId).toBe('r-1/write/1');
    // Only the key is left, readable by its owner alone.
    expect(readdirSync(folder)).toEqual(['gateway.key']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(path).size).toBe(32);
  }
});
