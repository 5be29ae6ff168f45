import { canonicalJson } from '@cairn/protocol';

/** Why the proxy refused or cut a connection: a closed set, so evidence can be counted by reason. */
export type EgressRefusalReason =
  /** The request is not one the proxy speaks (no absolute URI, a malformed CONNECT target). */
  | 'bad-request'
  | 'invalid-host'
  | 'ip-literal'
  | 'denied'
  | 'not-allowed'
  | 'resolution-failed'
  | 'address-forbidden'
  | 'not-tls'
  | 'no-sni'
  | 'sni-mismatch'
  | 'connection-limit'
  | 'byte-limit'
  | 'upstream-failed'
  /** A host with a credential binding asked for over plain HTTP: its credential travels over TLS alone. */
  | 'credential-needs-tls'
  /** A request held the placeholder of a secret bound to another host (the attempt is flagged). */
  | 'placeholder-elsewhere';

/**
 * One connection the proxy decided on (ADR 0049's egress record). Every field is present in every
 * record, `null` where it does not apply, so the NDJSON reads the same way line after line.
 */
export interface EgressRecord {
  /** The host asked for, normalised (IDNA, lower-case); as written when it could not be. */
  readonly host: string;
  readonly port: number;
  /** How it was asked for: a tunnel (`CONNECT`) or a plain HTTP request. */
  readonly kind: 'connect' | 'http';
  /** The address connected to (the one checked), null when refused before one was chosen. */
  readonly address: string | null;
  /** `allowed`: it ran to its end; `refused`: no bytes reached the host; `cut`: ended by the proxy mid-way. */
  readonly decision: 'allowed' | 'refused' | 'cut';
  /** The allow entry that admitted it, or the deny entry that refused it. */
  readonly rule: string | null;
  readonly reason: EgressRefusalReason | null;
  /** The refusal in words, as the client was told. */
  readonly message: string | null;
  /** The allow entry that would admit it, when one could. */
  readonly wouldAdmit: string | null;
  /** Bytes from the host to the client. */
  readonly bytesIn: number;
  /** Bytes from the client to the host. */
  readonly bytesOut: number;
  /** The name (never the value) of the secret brokered into the connection's requests; null when none was. */
  readonly credential: string | null;
  /** ISO 8601 times; `endedAt` is null while the connection is open. */
  readonly startedAt: string;
  readonly endedAt: string | null;
}

/**
 * The records as NDJSON, one canonical JSON object a line (RFC 8785 key order), each line ended by
 * a newline: the same records always give the same bytes, so the artifact's digest is stable.
 */
export function egressRecordsToNdjson(records: readonly EgressRecord[]): string {
  return records.map((record) => `${canonicalJson(record)}\n`).join('');
}
