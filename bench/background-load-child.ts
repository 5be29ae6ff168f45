// One process of the bench's load configuration (background-load.ts starts them):
//   background-load-child.ts <parent pid> cpu
//     spins on one core until it is killed;
//   background-load-child.ts <parent pid> io <file> <block bytes> <interval ms> <file bytes>
//     writes a block into <file> and fdatasyncs it, one every <interval ms> (at once when the last
//     one took longer: no catch-up burst), cycling through the first <file bytes> of the file, and
//     on SIGTERM prints what it did as one JSON line and exits.
// Either one exits by itself once its parent is gone (its parent pid is no longer the one it was
// given: a parent killed before this process read its own would otherwise go unnoticed), so a bench killed before its cleanup leaves no load spinning on a shared machine;
// the writer then removes the folder its file is in (the load's own, made for it).
import { rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [parentPid, role, ...options] = process.argv.slice(2);
const parent = Number(parentPid);

if (role === 'cpu') spin();
else if (role === 'io') await writeAndSync(options);
else
  throw new Error(
    `usage: background-load-child.ts <parent pid> cpu | <parent pid> io <file> <block bytes> <interval ms> <file bytes>; not ${process.argv.slice(2).join(' ')}`,
  );

function spin(): void {
  // A busy loop runs no timers: it looks for its parent itself, about every 100 ms.
  let checkAt = performance.now();
  let turns = 0;
  for (;;) {
    if (++turns % 100_000 !== 0 || performance.now() < checkAt) continue;
    if (process.ppid !== parent) process.exit(0);
    checkAt = performance.now() + 100;
  }
}

async function writeAndSync([file, block, interval, size]: string[]): Promise<void> {
  const blockBytes = Number(block);
  const intervalMs = Number(interval);
  const fileBytes = Number(size);
  if (!file || !(blockBytes > 0) || !(intervalMs >= 0) || !(fileBytes >= blockBytes))
    throw new Error(`background-load-child.ts io: bad options ${options.join(' ')}`);
  // Random bytes, so no layer below (a compressing or deduplicating disk) writes less than asked.
  const data = Buffer.alloc(blockBytes);
  for (let index = 0; index < blockBytes; index += 4) data.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, index);
  const handle = await open(file, 'w');
  const syncMs: number[] = [];
  let stopping = false;
  process.once('SIGTERM', () => (stopping = true));
  // Orphaned, it takes its file and folder (the load's own) with it: up to `fileBytes` left in the temp folder otherwise.
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    rmSync(dirname(file), { recursive: true, force: true });
    process.exit(0);
  }, 100);
  let position = 0;
  while (!stopping) {
    const cycleStarted = performance.now();
    await handle.write(data, 0, blockBytes, position);
    const syncStarted = performance.now();
    await handle.datasync();
    syncMs.push(performance.now() - syncStarted);
    position = position + blockBytes + blockBytes > fileBytes ? 0 : position + blockBytes;
    const rest = intervalMs - (performance.now() - cycleStarted);
    if (rest > 0 && !stopping) await sleep(rest);
  }
  clearInterval(watch);
  await handle.close();
  await rm(file, { force: true });
  const sorted = syncMs.sort((a, b) => a - b);
  const at = (fraction: number) => sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0;
  process.stdout.write(
    `${JSON.stringify({ blocks: syncMs.length, bytes: syncMs.length * blockBytes, fdatasyncP50Ms: at(0.5), fdatasyncP99Ms: at(0.99), fdatasyncMaxMs: at(1) })}\n`,
  );
}
