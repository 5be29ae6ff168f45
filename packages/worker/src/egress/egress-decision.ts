import { lookup } from 'node:dns/promises';
import type { AddressPolicy } from './address-policy.ts';
import { normalizeHostName, type EgressAllowList } from './allow-list.ts';
import type { EgressRefusalReason } from './egress-record.ts';

/** Every address a name resolves to; the proxy's own resolver, never the client's. */
export type EgressResolver = (host: string) => Promise<readonly string[]>;

/** The system resolver, every address (both families, in the order it gives them). */
export const systemResolver: EgressResolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/** What the proxy does with a request: connect to `address`, or refuse and say why. */
export type EgressDecision =
  | { readonly admitted: true; readonly host: string; readonly address: string; readonly rule: string }
  | {
      readonly admitted: false;
      readonly host: string;
      readonly address: string | null;
      readonly rule: string | null;
      readonly reason: EgressRefusalReason;
      readonly message: string;
      readonly wouldAdmit: string | null;
    };

export interface EgressDecisionContext {
  readonly allowList: EgressAllowList;
  readonly addressPolicy: AddressPolicy;
  readonly resolve: EgressResolver;
  /** Undefined when the limit is not reached; otherwise its refusal, said before any resolution. */
  readonly limitRefusal: () => { reason: EgressRefusalReason; message: string } | undefined;
}

/**
 * Decides one connection: the lists first (deny wins; an IP literal is never admitted), then the
 * attempt's limits, then the name resolved by the proxy itself. Any one forbidden address refuses
 * the name, not only that address: a name that resolves into the worker's network is a rebinding
 * attempt or a mistake either way, and the first address is the one connected to, so nothing
 * resolves the name a second time between this check and the connection.
 */
export async function decideEgress(context: EgressDecisionContext, name: string, port: number): Promise<EgressDecision> {
  const match = context.allowList.match(name, port);
  // The record names the host as it was decided on (IDNA, lower-case), or as written when it is none.
  const host = normalizeHostName(name) ?? name;
  if (!match.admitted)
    return {
      admitted: false,
      host,
      address: null,
      rule: match.rule ?? null,
      reason: match.reason,
      message: match.message,
      wouldAdmit: match.wouldAdmit ?? null,
    };
  const limit = context.limitRefusal();
  if (limit !== undefined) return { admitted: false, host, address: null, rule: match.rule, ...limit, wouldAdmit: null };
  let addresses: readonly string[];
  try {
    addresses = await context.resolve(host);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return {
      admitted: false,
      host,
      address: null,
      rule: match.rule,
      reason: 'resolution-failed',
      message: `${host} could not be resolved: ${why}`,
      wouldAdmit: null,
    };
  }
  if (addresses.length === 0)
    return { admitted: false, host, address: null, rule: match.rule, reason: 'resolution-failed', message: `${host} resolves to no address`, wouldAdmit: null };
  for (const address of addresses) {
    const refusal = context.addressPolicy.refusal(address);
    if (refusal !== undefined)
      return {
        admitted: false,
        host,
        address,
        rule: match.rule,
        reason: 'address-forbidden',
        message: `${host} resolves to ${refusal}, which the proxy never connects to`,
        wouldAdmit: null,
      };
  }
  return { admitted: true, host, address: addresses[0]!, rule: match.rule };
}
