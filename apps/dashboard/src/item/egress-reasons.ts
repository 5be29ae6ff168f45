/**
 * What each refusal reason of the egress proxy (ADR 0049) means when no allow entry would admit the
 * connection: why it cannot be allowed, or what cut a connection it admitted. The same words as
 * `cairn status` and `cairn logs` (apps/server/src/cli/egress-lines.ts; a test keeps them equal).
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
