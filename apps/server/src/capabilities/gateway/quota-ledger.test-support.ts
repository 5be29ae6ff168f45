import { expect, test } from 'vitest';
import type { QuotaClaim, QuotaLedger, QuotaTaken } from './quota-ledger.ts';

/** Two views of one ledger's counts (two replicas' ledgers over one database; one in-process ledger twice), and time. */
export interface LedgerPair {
  readonly first: QuotaLedger;
  readonly second: QuotaLedger;
  /** Moves every call a minute and a second into the past (the rolling minute passes), leases aside. */
  passMinute(): Promise<void>;
}

function released(taken: QuotaTaken): (tokens: number) => Promise<void> {
  if (!('release' in taken)) throw new Error(`expected room, got ${JSON.stringify(taken)}`);
  return taken.release;
}

/**
 * The behaviour every `QuotaLedger` shares, run against each (the in-memory one and the
 * PostgreSQL one): call at the top of a test file with how to make a pair (cleaned up by the caller).
 */
export function describeQuotaLedger(name: string, pair: () => Promise<LedgerPair>): void {
  const openai = (quota: QuotaClaim['quota']): QuotaClaim => ({ key: 'openai', quota });

  test(`${name}: concurrent calls stop at the limit, whichever view takes them; a release frees room`, async () => {
    const { first, second } = await pair();
    const claims = [openai({ concurrent: 2 })];
    const one = released(await first.take(claims));
    released(await second.take(claims));
    expect(await first.take(claims)).toEqual({ full: { key: 'openai', reason: '2 calls in flight' } });
    expect(await second.take(claims)).toEqual({ full: { key: 'openai', reason: '2 calls in flight' } });
    await one(10);
    released(await second.take(claims));
    expect(await first.take(claims)).toMatchObject({ full: { key: 'openai' } });
  });

  test(`${name}: a call takes room under all its quotas or none`, async () => {
    const { first, second } = await pair();
    const provider = openai({ concurrent: 3 });
    const model = { key: 'openai/gpt-4o', quota: { concurrent: 1 } };
    released(await first.take([provider, model]));
    // The model's quota is full: nothing is taken under the provider's either.
    expect(await second.take([provider, model])).toEqual({ full: { key: 'openai/gpt-4o', reason: '1 calls in flight' } });
    released(await second.take([provider]));
    released(await first.take([provider]));
    expect(await second.take([provider])).toEqual({ full: { key: 'openai', reason: '3 calls in flight' } });
  });

  test(`${name}: requestsPerMinute counts the calls started in the rolling minute, ended or not`, async () => {
    const { first, second, passMinute } = await pair();
    const claims = [openai({ requestsPerMinute: 2 })];
    await released(await first.take(claims))(0);
    released(await second.take(claims));
    expect(await first.take(claims)).toEqual({ full: { key: 'openai', reason: '2 calls in the last minute' } });
    await passMinute();
    released(await second.take(claims));
  });

  test(`${name}: tokensPerMinute counts the tokens of the calls that ended in the rolling minute`, async () => {
    const { first, second, passMinute } = await pair();
    const claims = [openai({ tokensPerMinute: 1_000 })];
    const one = released(await first.take(claims));
    const two = released(await second.take(claims));
    // In flight, the calls have used nothing yet.
    released(await first.take(claims));
    await one(600);
    released(await second.take(claims));
    await two(400);
    expect(await first.take(claims)).toEqual({ full: { key: 'openai', reason: '1000 tokens in the last minute' } });
    await passMinute();
    released(await second.take(claims));
  });

  test(`${name}: tokensPerMinute counts what the calls in flight reserved, until they release what they used`, async () => {
    const { first, second } = await pair();
    const claims = [openai({ tokensPerMinute: 300 })];
    const calls = [released(await first.take(claims, 100)), released(await second.take(claims, 100)), released(await first.take(claims, 100))];
    // 300 reserved: a fourth call's 100 does not fit, from either view.
    expect(await second.take(claims, 100)).toEqual({
      full: { key: 'openai', reason: '300 tokens in the last minute, with 0 used and 300 reserved by the calls in flight' },
    });
    // The first ends having used nothing (an error answer): its reservation is free again.
    await calls[0]!(0);
    const fourth = released(await first.take(claims, 100));
    expect(await second.take(claims, 100)).toMatchObject({ full: { key: 'openai' } });
    for (const release of [calls[1]!, calls[2]!, fourth]) await release(100);
    // 300 used, none in flight: full as before.
    expect(await first.take(claims, 1)).toEqual({ full: { key: 'openai', reason: '300 tokens in the last minute' } });
  });

  test(`${name}: a reservation larger than the room left goes when no call is in flight`, async () => {
    const { first, second } = await pair();
    const claims = [openai({ tokensPerMinute: 300 })];
    await released(await first.take(claims, 100))(250);
    const alone = released(await second.take(claims, 1_000));
    expect(await first.take(claims, 10)).toMatchObject({ full: { key: 'openai' } });
    await alone(30);
  });

  test(`${name}: takers racing from both views never exceed the limit`, async () => {
    const { first, second } = await pair();
    const claims = [openai({ concurrent: 3 }), { key: 'openai/gpt-4o', quota: { concurrent: 5 } }];
    const outcomes = await Promise.all(Array.from({ length: 24 }, (_, index) => (index % 2 === 0 ? first : second).take(claims)));
    expect(outcomes.filter((outcome) => 'release' in outcome)).toHaveLength(3);
    expect(outcomes.filter((outcome) => 'full' in outcome)).toHaveLength(21);
  });
}
