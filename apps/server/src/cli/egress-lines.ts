/**
 * What each refusal reason of the egress proxy (ADR 0049) means to the person reading `cairn status`
 * or `cairn logs`, when no allow entry would admit the connection: why it cannot be allowed, or, for
 * a connection admitted and then cut, what cut it. The dashboard says the same (a test keeps its
 * copy equal), and a test keeps the keys equal to the worker's reasons.
 */
export const egressReasonWords: Readonly<Record<string, string>> = {
  'bad-request': 'not allowable: not a request the proxy speaks (CONNECT host:port, or a request for an http:// URL)',
  'invalid-host': 'not allowable: not a host name',
  'ip-literal': 'not allowable: an IP address; the network is reached by host name only',
  denied: "not allowable: the server's executor.network.deny refuses it",
  'not-allowed': 'no allow entry matches it',
  'resolution-failed': 'allowed, but the name resolves to no address',
  'address-forbidden': 'not allowable: the name resolves to a private, loopback or link-local address',
  'not-tls': 'not allowable: the tunnel did not begin with TLS',
  'no-sni': 'not allowable: its TLS named no server (no SNI)',
  'sni-mismatch': 'not allowable: its TLS named another host than it asked the proxy for',
  'connection-limit': "cut: the attempt reached the server's executor.network.limits.connections",
  'byte-limit': "cut: the attempt reached the server's executor.network.limits.bytes",
  'upstream-failed': 'allowed, but the host could not be reached',
  'credential-needs-tls': 'not allowable: a host with a credential is reached over TLS only (https://)',
  'placeholder-elsewhere': 'not allowable: it carried the credential placeholder of another host',
};

/** An attempt's `egress` as the API reports it (`AttemptEgress`, `ItemEgress` with its `attempt`). */
export interface EgressView {
  readonly attempt?: number;
  readonly allowed: number;
  readonly refused: number;
  readonly refusals: readonly { readonly host: string; readonly port: number; readonly reason: string; readonly wouldAdmit: string | null }[];
  readonly flagged: number;
}

/**
 * The `egress` of an item or attempt the server answered, when it has one that reads as one; loose:
 * a newer server's added fields do not hide what this one knows how to show. Checked by hand, not
 * with a zod schema: `cairn status` and `cairn logs` load this file, and zod costs every `cairn`
 * start tens of milliseconds.
 */
export function egressOf(view: { readonly [field: string]: unknown }): EgressView | undefined {
  const egress = view['egress'];
  if (typeof egress !== 'object' || egress === null) return undefined;
  const { attempt, allowed, refused, refusals, flagged } = egress as Record<string, unknown>;
  if (!(attempt === undefined || Number.isSafeInteger(attempt)) || ![allowed, refused, flagged].every(Number.isSafeInteger) || !Array.isArray(refusals))
    return undefined;
  const read: EgressView['refusals'][number][] = [];
  for (const refusal of refusals as unknown[]) {
    if (typeof refusal !== 'object' || refusal === null) return undefined;
    const { host, port, reason, wouldAdmit } = refusal as Record<string, unknown>;
    if (typeof host !== 'string' || !Number.isSafeInteger(port) || typeof reason !== 'string' || !(wouldAdmit === null || typeof wouldAdmit === 'string'))
      return undefined;
    read.push({ host, port: port as number, reason, wouldAdmit });
  }
  return {
    ...(attempt === undefined ? {} : { attempt: attempt as number }),
    allowed: allowed as number,
    refused: refused as number,
    refusals: read,
    flagged: flagged as number,
  };
}

/** What to do about one refusal: the allow entry to add, or why none would admit it. */
export function refusalAdvice(refusal: EgressView['refusals'][number]): string {
  if (refusal.wouldAdmit !== null) return `to allow it, add ${JSON.stringify(refusal.wouldAdmit)} to the item's network.allow`;
  return egressReasonWords[refusal.reason] ?? 'not allowable by an allow entry';
}

/**
 * An attempt's egress as lines, `indent` spaces in: the counts, then each refusal (the same host,
 * port and reason once, with how many times) with what to do about it, the refusals the summary
 * left out, and the credential misuse flagged. None when nothing was refused or flagged.
 */
export function egressLines(egress: EgressView | undefined, indent = 2): string[] {
  if (egress === undefined || (egress.refused === 0 && egress.flagged === 0)) return [];
  const pad = ' '.repeat(indent);
  const grouped = new Map<string, { refusal: EgressView['refusals'][number]; times: number }>();
  for (const refusal of egress.refusals) {
    const key = JSON.stringify([refusal.host, refusal.port, refusal.reason, refusal.wouldAdmit]);
    const known = grouped.get(key);
    if (known) known.times += 1;
    else grouped.set(key, { refusal, times: 1 });
  }
  const attempt = egress.attempt === undefined ? '' : ` (attempt ${egress.attempt})`;
  const lines = [`${pad}egress${attempt}: ${egress.allowed} allowed, ${egress.refused} refused`];
  for (const { refusal, times } of grouped.values()) {
    const repeated = times === 1 ? '' : ` ×${times}`;
    lines.push(`${pad}  refused ${hostPort(refusal.host, refusal.port)} (${refusal.reason})${repeated} — ${refusalAdvice(refusal)}`);
  }
  const unlisted = egress.refused - egress.refusals.length;
  if (unlisted > 0) lines.push(`${pad}  … ${unlisted} more refused: the attempt's egress artifact records every connection`);
  if (egress.flagged > 0)
    lines.push(
      `${pad}  flagged: ${egress.flagged === 1 ? 'a credential placeholder was' : `${egress.flagged} credential placeholders were`} sent to a host it is not bound to`,
    );
  return lines;
}

/** `host:port`, an IPv6 address in brackets. */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
