// The quotas of a server on SQLite, counted in its one process: the ledgers' shared behaviour, and
// the decision they share as a table.
import { expect, test } from 'vitest';
import { MemoryQuotaLedger } from './memory-quota-ledger.ts';
import { quotaFull } from './quota-ledger.ts';
import { describeQuotaLedger } from './quota-ledger.test-support.ts';

describeQuotaLedger('in memory', () => {
  let now = 1_800_000_000_000;
  const ledger = new MemoryQuotaLedger({ now: () => now });
  return Promise.resolve({
    first: ledger,
    second: ledger,
    passMinute: () => {
      now += 61_000;
      return Promise.resolve();
    },
  });
});

test.each([
  [{ concurrent: 2 }, { inFlight: 1, startedInMinute: 50, tokensInMinute: 1e9 }, undefined],
  [{ concurrent: 2 }, { inFlight: 2, startedInMinute: 2, tokensInMinute: 0 }, '2 calls in flight'],
  [{ requestsPerMinute: 10 }, { inFlight: 0, startedInMinute: 9, tokensInMinute: 0 }, undefined],
  [{ requestsPerMinute: 10 }, { inFlight: 0, startedInMinute: 10, tokensInMinute: 0 }, '10 calls in the last minute'],
  [{ tokensPerMinute: 500 }, { inFlight: 3, startedInMinute: 3, tokensInMinute: 499 }, undefined],
  [{ tokensPerMinute: 500 }, { inFlight: 0, startedInMinute: 1, tokensInMinute: 500 }, '500 tokens in the last minute'],
  // Every limit is checked; the first that is reached is named.
  [{ concurrent: 1, requestsPerMinute: 1 }, { inFlight: 1, startedInMinute: 1, tokensInMinute: 0 }, '1 calls in flight'],
  [{ concurrent: 5, requestsPerMinute: 1 }, { inFlight: 1, startedInMinute: 1, tokensInMinute: 0 }, '1 calls in the last minute'],
])('quotaFull(%j, %j) is %j', (quota, usage, reason) => {
  expect(quotaFull(quota, usage)).toBe(reason);
});

test.each([
  // A reservation fits beside the minute's tokens and the reservations in flight, or waits.
  [{ inFlight: 2, startedInMinute: 5, tokensInMinute: 100, reservedTokens: 200 }, 200, undefined],
  [
    { inFlight: 2, startedInMinute: 5, tokensInMinute: 100, reservedTokens: 200 },
    201,
    '500 tokens in the last minute, with 100 used and 200 reserved by the calls in flight',
  ],
  // With none in flight, one goes while any room is left.
  [{ inFlight: 0, startedInMinute: 5, tokensInMinute: 499, reservedTokens: 0 }, 10_000, undefined],
  [{ inFlight: 0, startedInMinute: 5, tokensInMinute: 500, reservedTokens: 0 }, 1, '500 tokens in the last minute'],
])('quotaFull({tokensPerMinute: 500}, %j) reserving %i is %j', (usage, reserve, reason) => {
  expect(quotaFull({ tokensPerMinute: 500 }, usage, reserve)).toBe(reason);
});
