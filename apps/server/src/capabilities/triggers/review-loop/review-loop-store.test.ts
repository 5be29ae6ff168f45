// Both stores of the review loop (`triggers.db` of a single server, and the tables in the engine's
// PostgreSQL database the replicas share) keep the same promises, checked through two stores over
// one backend (two replicas, or a server reopened), with an oracle reading the backend directly:
// the caps per pull request and per hour, the stop and the fresh count after a resume, a place
// under a cap taken by one of many admitting at once, and a reply claimed once.
import { describe, expect, test } from 'vitest';
import { hourMs, type ReviewLoopStore } from './review-loop-store.ts';
import { PostgresReviewLoopStore } from './store/review-loop-store-postgres.ts';
import { SqliteReviewLoopStore } from './store/review-loop-store-sqlite.ts';
import { triggerStoreBackends, type TwoStores } from '../trigger-store-backends.test-support.ts';

/** Two stores over one backend, and how many follow-up rows the backend holds, read around them. */
interface Backend {
  readonly stores: [ReviewLoopStore, ReviewLoopStore];
  rows(): Promise<number>;
}

const opened = triggerStoreBackends<ReviewLoopStore>({
  sqlite: (file) => new SqliteReviewLoopStore(file),
  postgres: (pool) => new PostgresReviewLoopStore(pool),
});
const backends: Record<string, () => Promise<Backend>> = {
  sqlite: async () => {
    const { stores, oracle } = (await opened.sqlite()) as Extract<TwoStores<ReviewLoopStore>, { kind: 'sqlite' }>;
    return { stores, rows: async () => (oracle.prepare('SELECT count(*) AS count FROM review_follow_ups').get() as { count: number }).count };
  },
  postgres: async () => {
    const { stores, oracle } = (await opened.postgres()) as Extract<TwoStores<ReviewLoopStore>, { kind: 'postgres' }>;
    return {
      stores,
      rows: async () => Number((await oracle.query<{ count: string }>('SELECT count(*) AS count FROM cairn.server_review_follow_ups')).rows[0]!.count),
    };
  },
};

const t0 = Date.UTC(2026, 10, 28, 9, 0);
const followUp = (feedbackId: string, pullNumber: number, requestedAt: number) => ({
  feedbackId,
  repository: 'acme/app',
  pullNumber,
  requestedAt,
  detail: '{}',
});

describe.each(Object.keys(backends))('the review loop store on %s', (name) => {
  test('a pull request is capped at its count, the server at its hour; a bound names itself, counts and when the hour frees', { timeout: 60_000 }, async () => {
    const { stores, rows } = await backends[name]!();
    const [one, other] = stores;
    const limits = { perPullRequest: 2, perHour: 3 };
    expect(await one.admit(followUp('review:1', 1, t0), limits)).toEqual({ admitted: true });
    expect(await other.admit(followUp('review:2', 1, t0 + 1_000), limits)).toEqual({ admitted: true });
    expect(await one.admit(followUp('review:3', 1, t0 + 2_000), limits)).toEqual({ admitted: false, bound: 'pull-request', count: 2, max: 2 });
    expect(await other.admit(followUp('review:4', 2, t0 + 3_000), limits)).toEqual({ admitted: true });
    expect(await one.admit(followUp('review:5', 3, t0 + 4_000), limits)).toEqual({ admitted: false, bound: 'hour', count: 3, max: 3, freeAt: t0 + hourMs });
    // An hour after the first, its place is free again.
    expect(await one.admit(followUp('review:6', 3, t0 + hourMs + 1), limits)).toEqual({ admitted: true });
    expect(await rows()).toBe(4);
    // A withdrawn follow-up (its run was never submitted) counts against nothing.
    await other.withdraw('review:6');
    expect(await rows()).toBe(3);
  });

  test('a stop holds until resumed, on every store; a resume counts the pull request afresh', { timeout: 60_000 }, async () => {
    const { stores } = await backends[name]!();
    const [one, other] = stores;
    const limits = { perPullRequest: 1, perHour: 100 };
    expect(await one.admit(followUp('issue-comment:1', 1, t0), limits)).toEqual({ admitted: true });
    await one.stop('acme/app', 1, '@cairn stop by hubot');
    expect(await other.admit(followUp('issue-comment:2', 1, t0 + 1), limits)).toEqual({ admitted: false, bound: 'stopped', stoppedBy: '@cairn stop by hubot' });
    expect(await other.stoppedBy('acme/app', 1)).toBe('@cairn stop by hubot');
    expect((await other.followUpsOf('acme/app', 1)).map((record) => record.feedbackId)).toEqual(['issue-comment:1']);
    await other.resume('acme/app', 1, t0 + 2);
    expect(await one.stoppedBy('acme/app', 1)).toBeUndefined();
    expect(await one.followUpsOf('acme/app', 1)).toEqual([]);
    expect(await one.admit(followUp('issue-comment:3', 1, t0 + 3), limits)).toEqual({ admitted: true });
    expect(await one.admit(followUp('issue-comment:4', 1, t0 + 4), limits)).toMatchObject({ admitted: false, bound: 'pull-request', count: 1 });
  });

  test('of many admitting at once under one place left, one is admitted', { timeout: 60_000 }, async () => {
    const { stores, rows } = await backends[name]!();
    const admissions = await Promise.all(
      Array.from({ length: 10 }, (_, index) => stores[index % 2]!.admit(followUp(`check-run:${index}`, 1, t0 + index), { perPullRequest: 1, perHour: 100 })),
    );
    expect(admissions.filter((admission) => admission.admitted)).toHaveLength(1);
    expect(await rows()).toBe(1);
  });

  test('a reply is claimed once, by the first store that asks, and only for a follow-up with that run', { timeout: 60_000 }, async () => {
    const { stores } = await backends[name]!();
    const [one, other] = stores;
    await one.admit(followUp('review:1', 1, t0), { perPullRequest: 5, perHour: 5 });
    await one.admit(followUp('review:2', 1, t0 + 1), { perPullRequest: 5, perHour: 5 });
    await other.started('review:1', 'r-1');
    expect((await one.unreplied()).map((record) => [record.feedbackId, record.runId])).toEqual([['review:1', 'r-1']]);
    const claims = await Promise.all([one.claimReply('r-1', t0 + 10), other.claimReply('r-1', t0 + 10)]);
    expect(claims.filter((claim) => claim !== undefined)).toEqual([
      { feedbackId: 'review:1', repository: 'acme/app', pullNumber: 1, requestedAt: t0, runId: 'r-1', detail: '{}' },
    ]);
    expect(await one.claimReply('r-unknown', t0)).toBeUndefined();
    expect(await other.unreplied()).toEqual([]);
  });
});
