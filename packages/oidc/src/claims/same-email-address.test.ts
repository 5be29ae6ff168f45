// How an email grant's address is compared with the provider's verified claim (ADR 0046): the
// domain in any case, the local part exactly as given.
import { expect, test } from 'vitest';
import { sameEmailAddress } from './same-email-address.ts';

test.each([
  ['bo@example.test', 'bo@example.test', true],
  ['Bo@Example.test', 'Bo@example.TEST', true],
  ['Bo@example.test', 'bo@example.test', false],
  ['bo@example.test', 'BO@example.test', false],
  ['bo+ops@example.test', 'bo@example.test', false],
  ['b.o@example.test', 'bo@example.test', false],
  [' bo@example.test', 'bo@example.test', false],
  ['bo@example.test', 'bo@example.test.evil', false],
  ['"a@b"@example.test', '"a@b"@example.test', true],
  ['no-at-sign', 'no-at-sign', false],
  ['@example.test', '@example.test', false],
])('verified %j against granted %j: %s', (verified, granted, same) => {
  expect(sameEmailAddress(verified, granted)).toBe(same);
});
