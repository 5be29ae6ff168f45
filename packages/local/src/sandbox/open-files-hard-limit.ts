import { readFileSync } from 'node:fs';

/**
 * This process's hard limit on open files (RLIMIT_NOFILE), from /proc/self/limits; undefined when
 * unlimited or unreadable.
 *
 * Why it matters: a sandbox's limits are set inside it, as its unprivileged uid, soft and hard
 * alike (see sandboxLimitSteps: dash's `ulimit -n N` or `prlimit --nofile=N`). Nobody but root can
 * raise a hard limit, and the sandbox inherits this process's: an item asking for more than it (a
 * server started under `ulimit -Hn 256`) would fail before its command starts ("ulimit: error
 * setting limit (Operation not permitted)"). The sandbox's limit is lowered to it instead.
 */
export function openFilesHardLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limits, 'utf8')
      .split('\n')
      .find((candidate) => candidate.startsWith('Max open files'));
    // "Max open files            1024                 524288               files"
    const hard = line?.slice('Max open files'.length).trim().split(/\s+/)[1];
    return hard === undefined || hard === 'unlimited' || !/^\d+$/.test(hard) ? undefined : Number(hard);
  } catch {
    return undefined;
  }
}
