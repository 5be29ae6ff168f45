// The default address policy as a table: what the proxy must never connect to, in both families
// and in IPv4-mapped IPv6 form, and the server's own addresses passed in.
import { expect, test } from 'vitest';
import { isCairnError } from '@cairn/protocol';
import { createAddressPolicy } from './address-policy.ts';

const policy = createAddressPolicy(['203.0.113.7', '2001:db8::7']);

test.each([
  ['0.0.0.0', 'unspecified'],
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['10.1.2.3', 'private (RFC 1918)'],
  ['172.16.0.1', 'private (RFC 1918)'],
  ['172.31.255.255', 'private (RFC 1918)'],
  ['192.168.0.1', 'private (RFC 1918)'],
  ['100.64.0.1', 'shared'],
  ['100.127.255.254', 'shared'],
  ['169.254.169.254', 'link-local (cloud metadata)'],
  ['224.0.0.1', 'multicast'],
  ['255.255.255.255', 'reserved'],
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['fe80::1', 'link-local'],
  ['febf::1', 'link-local'],
  ['fc00::1', 'unique local'],
  ['fd12:3456::1', 'unique local'],
  ['ff02::1', 'multicast'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:169.254.169.254', 'link-local'],
  ['::ffff:a00:1', 'private (RFC 1918)'],
  ['203.0.113.7', "the server's own"],
  ['2001:db8::7', "the server's own"],
  ['::ffff:203.0.113.7', "the server's own"],
  ['not-an-address', 'is not an IP address'],
])('%s is refused (%s)', (address, kind) => {
  expect(policy.refusal(address)).toContain(kind);
});

test.each(['93.184.215.14', '172.32.0.1', '100.128.0.1', '169.255.0.1', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8', '203.0.113.8'])(
  '%s is allowed',
  (address) => {
    expect(policy.refusal(address)).toBeUndefined();
  },
);

test('an own address that is not an IP address is a configuration error', () => {
  let caught: unknown;
  try {
    createAddressPolicy(['server.example.com']);
  } catch (error) {
    caught = error;
  }
  expect(isCairnError(caught, 'CAIRN_CONFIG_INVALID')).toBe(true);
});
