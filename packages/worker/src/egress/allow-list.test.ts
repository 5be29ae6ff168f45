// The allow-list's parsing and matching as tables: what an entry is, what it admits, and that deny wins.
import { expect, test } from 'vitest';
import { isCairnError } from '@cairn/protocol';
import { EgressAllowList, normalizeHostName, parseEgressEntry } from './allow-list.ts';

test.each([
  ['api.example.com', { host: 'api.example.com', wildcard: false, port: undefined }],
  ['API.Example.COM.', { host: 'api.example.com', wildcard: false, port: undefined }],
  ['*.example.com:8443', { host: 'example.com', wildcard: true, port: 8443 }],
  ['xn--bcher-kva.de', { host: 'xn--bcher-kva.de', wildcard: false, port: undefined }],
])('%s parses', (text, expected) => {
  expect(parseEgressEntry(text)).toEqual({ text, ...expected });
});

// The run spec's syntax (@cairn/protocol's hostEntryProblem), so these are its messages.
test.each([
  ['10.0.0.1', 'is an IP address'],
  ['10.0.0.1:443', 'is an IP address'],
  ['[::1]:443', 'is an IP address'],
  ['::1', 'is an IP address'],
  // The URL parser reads these as IPv4 addresses: they are literals too, however written.
  ['0x7f.1', 'is an IP address'],
  ['127.1', 'is an IP address'],
  ['https://example.com', 'a port is a whole number'],
  ['example.com/path', 'must be a host name'],
  ['bücher.de', 'in its ASCII form (xn--…)'],
  ['_service.example.com', 'must be a host name'],
  ['*', 'may hold "*" only as its first label'],
  ['*.*.example.com', 'may hold "*" only as its first label'],
  ['*.com', 'every name of the top-level domain'],
  ['a*.example.com', 'may hold "*" only as its first label'],
  ['ex ample.com', 'must be a host name'],
  ['x..y', 'must be a host name'],
  ['-x.example.com', 'must be a host name'],
  ['', 'must be a host name of 1 to 253 characters'],
  ['example.com:0', 'a port is a whole number from 1 to 65535'],
  ['example.com:65536', 'a port is a whole number from 1 to 65535'],
])('%s is not an entry', (text, why) => {
  const parsed = parseEgressEntry(text);
  expect('invalid' in parsed && parsed.invalid).toContain(why);
});

test('normalising a requested name: IDNA, case, trailing dot, brackets; a non-name is undefined', () => {
  expect(normalizeHostName('Bücher.DE.')).toBe('xn--bcher-kva.de');
  expect(normalizeHostName('[::FFFF:127.0.0.1]')).toBe('::ffff:127.0.0.1');
  expect(normalizeHostName('[nonsense]')).toBeUndefined();
  expect(normalizeHostName('a b')).toBeUndefined();
});

const list = new EgressAllowList(
  ['api.example.com', '*.cdn.example.com', 'git.example.com:22', '*.blocked.example.com'],
  ['evil.cdn.example.com', 'blocked.example.com', '*.blocked.example.com:8443'],
);

test.each([
  ['api.example.com', 443, 'api.example.com'],
  ['api.example.com', 80, 'api.example.com'],
  ['API.example.com.', 443, 'api.example.com'],
  ['a.cdn.example.com', 443, '*.cdn.example.com'],
  ['a.b.cdn.example.com', 80, '*.cdn.example.com'],
  ['git.example.com', 22, 'git.example.com:22'],
  ['x.blocked.example.com', 443, '*.blocked.example.com'],
])('%s:%d is admitted by %s', (host, port, rule) => {
  expect(list.match(host, port)).toEqual({ admitted: true, rule });
});

test.each([
  ['api.example.com', 8080, 'not-allowed', undefined, 'api.example.com:8080'],
  ['cdn.example.com', 443, 'not-allowed', undefined, 'cdn.example.com'],
  ['xcdn.example.com', 443, 'not-allowed', undefined, 'xcdn.example.com'],
  ['git.example.com', 443, 'not-allowed', undefined, 'git.example.com'],
  ['other.example.org', 80, 'not-allowed', undefined, 'other.example.org'],
  // Deny wins over a wildcard allow; a deny entry without a port denies every port.
  ['evil.cdn.example.com', 443, 'denied', 'evil.cdn.example.com', undefined],
  ['evil.cdn.example.com', 9999, 'denied', 'evil.cdn.example.com', undefined],
  ['x.blocked.example.com', 8443, 'denied', '*.blocked.example.com:8443', undefined],
  ['93.184.215.14', 443, 'ip-literal', undefined, undefined],
  ['0x7f.1', 443, 'ip-literal', undefined, undefined],
  ['[::1]', 443, 'ip-literal', undefined, undefined],
  ['a..b', 443, 'invalid-host', undefined, undefined],
])('%s:%d is refused: %s', (host, port, reason, rule, wouldAdmit) => {
  expect(list.match(host, port)).toMatchObject({ admitted: false, reason, rule, wouldAdmit });
});

test('invalid entries are reported together, each by its path', () => {
  let caught: unknown;
  try {
    new EgressAllowList(['ok.example.com', '10.0.0.1'], ['*'], 'executor.network');
  } catch (error) {
    caught = error;
  }
  expect(isCairnError(caught, 'CAIRN_CONFIG_INVALID')).toBe(true);
  expect((caught as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual(['executor.network.allow[1]', 'executor.network.deny[0]']);
  expect((caught as Error).message).toContain('"10.0.0.1" is an IP address');
});

test.each(['example.com/x.allowed.com', 'allowed.com?x', 'a%41.com', 'a\\b.com', 'a@allowed.com'])(
  '%s, which the URL host parser would cut or decode, is not a name',
  (name) => {
    expect(normalizeHostName(name)).toBeUndefined();
  },
);
