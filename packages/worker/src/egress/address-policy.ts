import { BlockList, isIP } from 'node:net';
import { CairnError } from '@cairn/protocol';

/** Decides whether the proxy may connect to an address its resolver returned. */
export interface AddressPolicy {
  /** Why the proxy must never connect to `address`; undefined when it may. */
  refusal(address: string): string | undefined;
}

// Each range with the words a refusal says of it. Whatever the allow-list holds, a name that
// resolves into one of these is refused: they are the worker's own host, its network, and the
// cloud's metadata service, which a name under an allowed domain can be pointed at.
const forbiddenRanges: readonly { readonly network: string; readonly prefix: number; readonly family: 'ipv4' | 'ipv6'; readonly kind: string }[] = [
  { network: '0.0.0.0', prefix: 8, family: 'ipv4', kind: 'unspecified ("this network")' },
  { network: '127.0.0.0', prefix: 8, family: 'ipv4', kind: 'loopback' },
  { network: '10.0.0.0', prefix: 8, family: 'ipv4', kind: 'private (RFC 1918)' },
  { network: '172.16.0.0', prefix: 12, family: 'ipv4', kind: 'private (RFC 1918)' },
  { network: '192.168.0.0', prefix: 16, family: 'ipv4', kind: 'private (RFC 1918)' },
  { network: '100.64.0.0', prefix: 10, family: 'ipv4', kind: 'shared (carrier-grade NAT)' },
  { network: '169.254.0.0', prefix: 16, family: 'ipv4', kind: 'link-local (cloud metadata)' },
  { network: '224.0.0.0', prefix: 4, family: 'ipv4', kind: 'multicast' },
  // Reserved and the limited broadcast address: never a server on the internet.
  { network: '240.0.0.0', prefix: 4, family: 'ipv4', kind: 'reserved' },
  { network: '::', prefix: 128, family: 'ipv6', kind: 'unspecified' },
  { network: '::1', prefix: 128, family: 'ipv6', kind: 'loopback' },
  { network: 'fe80::', prefix: 10, family: 'ipv6', kind: 'link-local' },
  { network: 'fc00::', prefix: 7, family: 'ipv6', kind: 'unique local (private)' },
  { network: 'ff00::', prefix: 8, family: 'ipv6', kind: 'multicast' },
];

/**
 * The proxy's default address policy: the ranges above, IPv4-mapped IPv6 forms of them (node's
 * BlockList checks `::ffff:a.b.c.d` against its IPv4 rules), and `ownAddresses`, the server's and
 * worker's own public addresses, which the host passes in (a service there is not the internet).
 */
export function createAddressPolicy(ownAddresses: readonly string[] = []): AddressPolicy {
  const lists = forbiddenRanges.map((range) => {
    const list = new BlockList();
    list.addSubnet(range.network, range.prefix, range.family);
    return { list, kind: range.kind };
  });
  const own = new BlockList();
  for (const address of ownAddresses) {
    const family = isIP(address);
    if (family === 0)
      throw new CairnError('CAIRN_CONFIG_INVALID', `[cairn] [egress] invalid setting "ownAddresses": ${JSON.stringify(address)} is not an IP address.`, {
        path: 'ownAddresses',
        action: "List the server's own addresses as IP addresses (`203.0.113.7`, `2001:db8::7`).",
      });
    own.addAddress(address, family === 4 ? 'ipv4' : 'ipv6');
  }
  return {
    refusal(address: string): string | undefined {
      const family = isIP(address);
      if (family === 0) return `${JSON.stringify(address)} is not an IP address`;
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const hit = lists.find(({ list }) => list.check(address, type));
      if (hit !== undefined) return `${address} is a ${hit.kind} address`;
      if (own.check(address, type)) return `${address} is one of the server's own addresses`;
      return undefined;
    },
  };
}
