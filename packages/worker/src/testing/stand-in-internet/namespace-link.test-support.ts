// The wire between the host and a stand-in internet's network namespace: a veth pair whose host
// end is `cairn-si<pid>` (the pid of the process holding the namespace) and whose other end lives
// in that namespace, with a /30 of 198.18.0.0/15 (RFC 2544's benchmark range: not routed on the
// internet, and none of the ranges the egress proxy refuses) between them.
//
// Nothing here outlives the namespace's process: when it exits the kernel destroys the namespace
// and the veth pair with it, host end, addresses and route included. So a crashed run leaves no
// network state behind; a host end whose process is gone (a namespace kept alive by a straggler)
// is removed at the next start all the same.
import { execFile } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The host end's name prefix: with a pid (at most 7 digits) it stays within 15 characters. */
export const linkPrefix = 'cairn-si';

export interface NamespaceLink {
  /** The host end's name. */
  readonly link: string;
  /** The host end's address. */
  readonly hostAddress: string;
  /** The namespace end's address: where the stand-in internet's servers are reached. */
  readonly insideAddress: string;
  /** Deletes the pair now (the kernel would when the namespace goes; this makes it synchronous). */
  remove(): Promise<void>;
}

const benchmarkBase = (198 << 24) | (18 << 16);
const slashThirties = 1 << 15; // 198.18.0.0/15 holds 2^17 addresses

const dotted = (value: number) => [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
const numeric = (address: string) => address.split('.').reduce((value, part) => ((value << 8) | Number(part)) >>> 0, 0);

async function ip(args: readonly string[]): Promise<string> {
  return (await execFileAsync('ip', args)).stdout;
}

interface InterfaceAddresses {
  readonly ifname: string;
  readonly addr_info?: readonly { readonly family: string; readonly local: string }[];
}

/** Every IPv4 address on the host, with its interface. */
async function hostAddresses(): Promise<{ link: string; address: string }[]> {
  const interfaces = JSON.parse(await ip(['-json', '-4', 'address', 'show'])) as InterfaceAddresses[];
  return interfaces.flatMap((entry) => (entry.addr_info ?? []).map((info) => ({ link: entry.ifname, address: info.local })));
}

/** Removes host ends left by namespaces whose process is gone. */
async function removeStaleLinks(): Promise<void> {
  const links = JSON.parse(await ip(['-json', 'link', 'show'])) as { ifname: string }[];
  for (const { ifname } of links) {
    const pid = ifname.startsWith(linkPrefix) ? ifname.slice(linkPrefix.length) : '';
    if (/^\d+$/.test(pid) && !existsSync(`/proc/${pid}`)) await ip(['link', 'delete', ifname]).catch(() => undefined);
  }
}

/**
 * Waits until process `pid` is in a network namespace other than this process's: one just spawned
 * as `unshare --net …` is in ours until it has unshared, and a link made for it before then would
 * land here (its "uplink" end then missing in its namespace, or clashing with another's here).
 */
async function namespaceOf(pid: number): Promise<void> {
  const ours = readlinkSync('/proc/self/ns/net');
  for (const started = Date.now(); ; await new Promise((resolve) => setTimeout(resolve, 5))) {
    let theirs: string;
    try {
      theirs = readlinkSync(`/proc/${pid}/ns/net`);
    } catch {
      throw new Error(`process ${pid} ended before its network namespace could be linked`);
    }
    if (theirs !== ours) return;
    if (Date.now() - started > 10_000) throw new Error(`process ${pid} is still in this network namespace after 10 s: was it started with unshare --net?`);
  }
}

/**
 * Links the network namespace of process `pid` to the host. A /30 is drawn at random and kept only
 * if, once added, no other interface holds an address in it: two starts racing for one /30 (test
 * files in parallel, another checkout's run) each add theirs before looking, so the later one to
 * look always sees the other and draws again.
 */
export async function linkNamespace(pid: number): Promise<NamespaceLink> {
  await namespaceOf(pid);
  await removeStaleLinks();
  const link = `${linkPrefix}${pid}`;
  await ip(['link', 'add', link, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', String(pid)]);
  const remove = () =>
    ip(['link', 'delete', link]).then(
      () => undefined,
      () => undefined,
    );
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      const network = benchmarkBase + 4 * Math.floor(Math.random() * slashThirties);
      const hostAddress = dotted(network + 1);
      await ip(['address', 'add', `${hostAddress}/30`, 'dev', link]);
      const taken = (await hostAddresses()).some((entry) => entry.link !== link && numeric(entry.address) >>> 2 === network >>> 2);
      if (taken) {
        await ip(['address', 'delete', `${hostAddress}/30`, 'dev', link]);
        continue;
      }
      const insideAddress = dotted(network + 2);
      await ip(['link', 'set', link, 'up']);
      await execFileAsync('nsenter', [
        `--net=/proc/${pid}/ns/net`,
        'sh',
        '-c',
        `ip link set lo up && ip address add ${insideAddress}/30 dev uplink && ip link set uplink up`,
      ]);
      return { link, hostAddress, insideAddress, remove };
    }
    throw new Error('stand-in internet: no free /30 in 198.18.0.0/15 after 20 draws');
  } catch (error) {
    await remove();
    throw error;
  }
}
