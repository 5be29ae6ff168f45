import { readFileSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * Reads how many failures the kernel has reported on the ext4 file system mounted at a path: the
 * sum of its `errors_count` (among them, metadata it could not write back) and `msg_count` (among
 * them, "failed to convert unwritten extents to written extents -- potential data loss!", logged
 * for every block of data whose write-back failed) under /sys/fs/ext4/<device>/. Both also count
 * what a sound file system says (its mount message), hence a count to compare with the one taken
 * at mount. Not `warning_count`: a sound file system filling up logs warnings too.
 *
 * Why: a loop-mounted sparse image gets no ENOSPC when the disk under it is full. Writes into it
 * succeed into the page cache; the loop device's write-back then fails, ext4 logs it, keeps going
 * (errors=continue) and drops what it could not write. No process hangs and nothing tells the
 * writer; these counts are the one trace outside the kernel log. Undefined where there is no such
 * file system or no such count (no failure is ever reported then).
 */
export async function writeFailureCounter(mountPoint: string): Promise<(() => Promise<number>) | undefined> {
  try {
    const { dev } = await stat(mountPoint, { bigint: true });
    // glibc's gnu_dev_major / gnu_dev_minor.
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
    const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
    const device = basename(await realpath(`/sys/dev/block/${major}:${minor}`));
    const folder = `/sys/fs/ext4/${device}`;
    // Read synchronously: two sysfs counters in memory, read every 250 ms while an attempt runs,
    // where each asynchronous read was five round trips through the thread pool.
    const count = async () => Number(readFileSync(`${folder}/errors_count`, 'utf8')) + Number(readFileSync(`${folder}/msg_count`, 'utf8'));
    await count();
    return count;
  } catch {
    return undefined;
  }
}
