// Which requests a server refuses before authentication: a Host it does not answer to (DNS
// rebinding), or a browser's request for a page of another origin. Table tests of the rule; the
// browser itself is in apps/dashboard/test/cross-origin.test.ts.
import type { IncomingHttpHeaders } from 'node:http';
import { expect, test } from 'vitest';
import { checkRequestOrigin, hostNamesOf, isBrowserRequest } from './browser-requests.ts';

const loopback = hostNamesOf('127.0.0.1', []);
const refusal = (method: string, headers: IncomingHttpHeaders, hosts = loopback): string | null => {
  try {
    checkRequestOrigin({ method, headers }, hosts);
    return null;
  } catch (error) {
    return (error as { path: string }).path;
  }
};

test.each([
  ['the CLI (no browser headers)', 'POST', { host: '127.0.0.1:7600' }, null],
  ['the dashboard (same origin)', 'POST', { host: '127.0.0.1:7600', origin: 'http://127.0.0.1:7600', 'sec-fetch-site': 'same-origin' }, null],
  ['a link opened from a terminal', 'GET', { host: 'localhost:7600', 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' }, null],
  ['a link followed from another site', 'GET', { host: 'localhost:7600', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }, null],
  ['an IPv6 loopback Host', 'GET', { host: '[::1]:7600' }, null],
  ['a *.localhost name', 'GET', { host: 'cairn.localhost:7600' }, null],
  [
    'a page on another loopback port',
    'POST',
    { host: '127.0.0.1:7600', origin: 'http://127.0.0.1:9999', 'sec-fetch-site': 'same-site' },
    'headers.sec-fetch-site',
  ],
  ['a file:// page', 'POST', { host: '127.0.0.1:7600', origin: 'null', 'sec-fetch-site': 'cross-site' }, 'headers.sec-fetch-site'],
  [
    'a form posted from another site',
    'POST',
    { host: '127.0.0.1:7600', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' },
    'headers.sec-fetch-site',
  ],
  ['a cross-site fetch that reads', 'GET', { host: '127.0.0.1:7600', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' }, 'headers.sec-fetch-site'],
  ['another origin, from a browser without Sec-Fetch', 'POST', { host: '127.0.0.1:7600', origin: 'http://evil.example' }, 'headers.origin'],
  ['Origin null without Sec-Fetch', 'POST', { host: '127.0.0.1:7600', origin: 'null' }, 'headers.origin'],
  ['the same host on another port', 'POST', { host: '127.0.0.1:7600', origin: 'http://127.0.0.1:7601' }, 'headers.origin'],
  ['a rebound name', 'GET', { host: 'evil.example:7600' }, 'headers.host'],
  ['a rebound name, navigated', 'GET', { host: 'evil.example:7600', 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' }, 'headers.host'],
])('%s', (_name, method, headers, expected) => {
  expect(refusal(method, headers)).toBe(expected);
});

test('configured names are answered (case aside); a wildcard bind with none configured answers every name', () => {
  const named = hostNamesOf('127.0.0.1', ['Cairn.Example.com']);
  expect(refusal('GET', { host: 'cairn.example.com' }, named)).toBeNull();
  expect(refusal('POST', { host: 'cairn.example.com', origin: 'https://cairn.example.com', 'sec-fetch-site': 'same-origin' }, named)).toBeNull();
  expect(refusal('GET', { host: 'other.example.com' }, named)).toBe('headers.host');
  expect(refusal('GET', { host: 'any.example.com' }, hostNamesOf('0.0.0.0', []))).toBeNull();
  expect(refusal('GET', { host: 'any.example.com' }, hostNamesOf('0.0.0.0', ['cairn.example.com']))).toBe('headers.host');
  expect(refusal('GET', { host: '10.0.0.5:7600' }, hostNamesOf('0.0.0.0', ['cairn.example.com']))).toBeNull();
});

test('a browser is told apart by Origin or Sec-Fetch-Site, which a page cannot remove; Node and curl send neither', () => {
  expect(isBrowserRequest({ origin: 'null' })).toBe(true);
  expect(isBrowserRequest({ 'sec-fetch-site': 'same-origin' })).toBe(true);
  // Node's fetch sends Sec-Fetch-Mode (the fetch standard's), never Sec-Fetch-Site or Origin.
  expect(isBrowserRequest({ 'sec-fetch-mode': 'cors', 'user-agent': 'node' })).toBe(false);
});
