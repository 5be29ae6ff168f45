// A full disk under the server's data directory (a real tmpfs, filled to the last byte): the
// server stays up, /readyz answers 503 saying why (200 again once there is room), and tasks that
// end while the disk is full are recorded once there is room — nothing lost, nothing twice.
import { execFileSync } from 'node:child_process';
import { chmodSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { initServer } from '../cli/init-server.ts';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { buildHttpApi } from './http-server.ts';

const disk = useSmallFileSystem(20);

test('with its disk full the server stays up, /readyz answers 503 with the reason, and 200 again once there is room', { timeout: 30_000 }, async () => {
  const directory = join(disk.path, 'server');
  execFileSync('mkdir', ['-p', directory]);
  chmodSync(directory, 0o711);
  const { operatorToken } = await initServer(directory);
  const composition = await composeServer(loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } }));
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: 'tokens' });
  composition.engine.start();
  try {
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true });

    const filler = join(disk.path, 'filler');
    disk.fill(filler);
    const spec = { version: 1, name: 'no-room', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] };
    const submitted = await fetch(`${base}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    });
    // Refused as a full disk (503: retry later), saying what to do, not as an internal error.
    expect(submitted.status).toBe(503);
    expect(await submitted.json()).toMatchObject({ code: 'CAIRN_ENGINE_STORAGE_FULL', message: expect.stringContaining('Free space') });
    const full = await fetch(`${base}/readyz`);
    expect(full.status).toBe(503);
    const body = (await full.json()) as { ready: boolean; reason: string; since: string };
    expect(body).toMatchObject({ ready: false, reason: expect.stringMatching(/^storage full: /) });
    expect(Date.parse(body.since)).not.toBeNaN();

    unlinkSync(filler);
    let again = await fetch(`${base}/readyz`);
    for (let wait = 0; wait < 100 && again.status !== 200; wait++) {
      await sleep(50);
      again = await fetch(`${base}/readyz`);
    }
    expect(again.status).toBe(200);
    const retried = await fetch(`${base}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    });
    expect(retried.status).toBe(201);
  } finally {
    await app.close();
    await composition.close();
  }
});

test(
  'tasks that end while the data directory is full are recorded once there is room: the run succeeds, each item once, and the process never sees an unhandled rejection',
  { timeout: 120_000 },
  async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const directory = join(disk.path, 'running-server');
    execFileSync('mkdir', ['-p', directory]);
    chmodSync(disk.path, 0o755);
    chmodSync(directory, 0o711);
    const { operatorToken } = await initServer(directory);
    const composition = await composeServer(loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } }));
    const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: 'tokens' });
    composition.engine.start();
    const { engine } = composition;
    try {
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      const spec = {
        version: 1,
        name: 'full-while-running',
        items: Array.from({ length: 3 }, (_, index) => ({ id: `sleeper-${index}`, runtime: { kind: 'command', argv: ['sleep', '3'] } })),
      };
      const submitted = await fetch(`${base}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      });
      expect(submitted.status).toBe(201);
      const { runId } = (await submitted.json()) as { runId: string };
      for (let wait = 0; wait < 200 && engine.items(runId).some((item) => item.state !== 'running'); wait++) await sleep(20);
      // Past workspace preparation: the sandboxes are running their command.
      await sleep(1_000);
      const filler = join(disk.path, 'filler');
      disk.fill(filler);
      // The tasks end meanwhile; with no room to record them the server says so.
      const readiness = new Set<number>();
      for (let wait = 0; wait < 80; wait++) {
        readiness.add((await fetch(`${base}/readyz`)).status);
        await sleep(50);
      }
      expect([...readiness]).toContain(503);
      unlinkSync(filler);
      // Each waiting write tries again at most 5 s apart; on a loaded machine (CI's two cores, every
      // test file at once) the three attempts, their captures and the commits take a while more.
      const run = await Promise.race([engine.waitForRun(runId), sleep(60_000).then(() => undefined)]);
      expect(run?.state, 'the run did not end once there was room').toBe('succeeded');
      const entries = engine.audit.runEntries(runId);
      expect(entries.filter((entry) => entry.action === 'item.succeeded')).toHaveLength(3);
      expect(entries.filter((entry) => entry.action === 'attempt.completed')).toHaveLength(3);
      expect(entries.filter((entry) => entry.action === 'attempt.dispatched')).toHaveLength(3);
      // Ready again once the engine's next probe write goes through (it is woken by the writes above).
      let ready = await fetch(`${base}/readyz`);
      for (let wait = 0; wait < 120 && ready.status !== 200; wait++) {
        await sleep(50);
        ready = await fetch(`${base}/readyz`);
      }
      expect(ready.status).toBe(200);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await app.close();
      await composition.close();
    }
  },
);
