import { Resolver } from 'node:dns/promises';
import type { EgressResolver } from './egress-decision.ts';

// Answers that mean "no such address" for one family: the other family may still have some.
const noAddresses = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * A resolver that asks the given name servers directly (A and AAAA), never the host's
 * /etc/hosts or search domains: what an egress decision rests on is what those servers say. For a
 * worker whose deployment names the resolver its proxy must trust (an internal one; a stand-in
 * internet's in tests). Fails as the system resolver does when neither family has an address.
 */
export function nameServerResolver(servers: readonly string[]): EgressResolver {
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([...servers]);
  const family = async (ask: (host: string) => Promise<string[]>, host: string): Promise<string[]> => {
    try {
      return await ask(host);
    } catch (error) {
      if (noAddresses.has((error as NodeJS.ErrnoException).code ?? '')) return [];
      throw error;
    }
  };
  return async (host) => {
    const [v4, v6] = await Promise.all([family((name) => resolver.resolve4(name), host), family((name) => resolver.resolve6(name), host)]);
    const addresses = [...v4, ...v6];
    if (addresses.length === 0) throw Object.assign(new Error(`queryA ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses;
  };
}
