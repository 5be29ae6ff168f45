// A host's audit entry is a write asked for from outside, like a submit: on a full disk (a real
// tmpfs filled to the last byte; the tests run as root) it fails to its caller as
// CAIRN_ENGINE_STORAGE_FULL with nothing written, and goes in once there is room.
import { mkdtempSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { expect, test } from 'vitest';
import { ana, engineHarness } from '../engine.test-support.ts';

const { engineWith } = engineHarness();
const disk = useSmallFileSystem(4);

test('a host entry on a full disk is refused as CAIRN_ENGINE_STORAGE_FULL, nothing written; once there is room it goes in', { timeout: 30_000 }, async () => {
  const directory = mkdtempSync(join(disk.path, 'engine-'));
  const { engine } = await engineWith({ path: join(directory, 'engine.db') });
  engine.start();
  const service = engine.service();
  const token = { actor: ana, tokenId: 't1', name: 'ci', scopes: ['runs:read'] };
  const filler = join(disk.path, 'filler');
  disk.fill(filler);
  let size: number;
  try {
    size = await service.auditSize();
    await expect(service.hostAudit.tokenCreated(token)).rejects.toMatchObject({
      code: 'CAIRN_ENGINE_STORAGE_FULL',
      message: expect.stringMatching(/^The disk under the engine database is full/),
    });
    expect(await service.auditSize()).toBe(size);
    expect(await service.health()).toMatchObject({ ready: false, reason: expect.stringMatching(/^storage full: /) });
  } finally {
    unlinkSync(filler);
  }
  for (let wait = 0; wait < 400 && !(await service.health()).ready; wait++) await sleep(10);
  await service.hostAudit.tokenCreated(token);
  const entries = [...engine.audit.query({ from: size, action: 'token.created' })];
  expect(entries.map((entry) => entry.entity.id)).toEqual(['token:t1']);
});
