import { existsSync } from 'node:fs';
import { expect, test } from 'vitest';
import { restateFanout } from '../restate-fanout.ts';
import { restateServerBinary, startRestatePeer } from '../restate-server.ts';

test("Restate's peer starts its server and service, runs a fan-out to its sum, and stops them", async () => {
  expect(existsSync(restateServerBinary())).toBe(true);
  const peer = await startRestatePeer();
  let stopped = false;
  try {
    // restateFanout throws unless the answer is the sum of the items' own indices.
    const { wallMs, cpuMs } = await restateFanout(peer, 10);
    expect(wallMs).toBeGreaterThan(0);
    // The server's and the service's CPU, charged to their cgroup.
    expect(cpuMs).toBeGreaterThan(0);
    await peer.stop();
    stopped = true;
    await expect(fetch(`${peer.adminUrl}/health`)).rejects.toThrow();
  } finally {
    if (!stopped) await peer.stop();
  }
}, 60_000);
