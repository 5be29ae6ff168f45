import type { ServerPostgres } from '../../../../store/postgres/server-postgres.ts';
import { hourMs, ReviewLoopStore, type FollowUpAdmission, type FollowUpLimits, type FollowUpRecord } from '../review-loop-store.ts';

interface Row {
  feedback_id: string;
  repository: string;
  pull_number: number;
  requested_at: string;
  run_id: string | null;
  detail: string;
}

/**
 * The review loop's records in the engine's PostgreSQL database (`server_review_follow_ups` and
 * `server_review_pull_requests`, server step 9), shared by the replicas. An admission counts and
 * inserts under a transaction-level advisory lock of the loop's own, so two replicas admitting at
 * once are ordered and the last place under a cap goes to one; a reply is claimed by one update of
 * the row that has none yet. Times are the caller's clock, in milliseconds.
 */
export class PostgresReviewLoopStore extends ReviewLoopStore {
  readonly #database: ServerPostgres;
  readonly #followUps: string;
  readonly #pulls: string;

  /** The connections are `database`'s, closed by its owner, not by `close()`. */
  constructor(database: ServerPostgres) {
    super();
    this.#database = database;
    this.#followUps = `${database.schema}.server_review_follow_ups`;
    this.#pulls = `${database.schema}.server_review_pull_requests`;
  }

  admit(followUp: Omit<FollowUpRecord, 'runId'>, limits: FollowUpLimits): Promise<FollowUpAdmission> {
    return this.#database.transaction(async (client): Promise<FollowUpAdmission> => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', ['cairn.review-loop', this.#database.schema]);
      const pull = await client.query<{ stopped_by: string | null; counted_from: string }>(
        `SELECT stopped_by, counted_from FROM ${this.#pulls} WHERE repository = $1 AND pull_number = $2`,
        [followUp.repository, followUp.pullNumber],
      );
      const stoppedBy = pull.rows[0]?.stopped_by;
      if (stoppedBy) return { admitted: false, bound: 'stopped', stoppedBy };
      const ofPull = await client.query<{ count: string }>(
        `SELECT count(*) AS count FROM ${this.#followUps} WHERE repository = $1 AND pull_number = $2 AND requested_at >= $3`,
        [followUp.repository, followUp.pullNumber, Number(pull.rows[0]?.counted_from ?? 0)],
      );
      const count = Number(ofPull.rows[0]?.count ?? 0);
      if (count >= limits.perPullRequest) return { admitted: false, bound: 'pull-request', count, max: limits.perPullRequest };
      const hour = await client.query<{ count: string; oldest: string | null }>(
        `SELECT count(*) AS count, min(requested_at) AS oldest FROM ${this.#followUps} WHERE requested_at > $1`,
        [followUp.requestedAt - hourMs],
      );
      const inHour = Number(hour.rows[0]?.count ?? 0);
      if (inHour >= limits.perHour)
        return { admitted: false, bound: 'hour', count: inHour, max: limits.perHour, freeAt: Number(hour.rows[0]?.oldest ?? followUp.requestedAt) + hourMs };
      await client.query(`INSERT INTO ${this.#followUps} (feedback_id, repository, pull_number, requested_at, detail) VALUES ($1, $2, $3, $4, $5)`, [
        followUp.feedbackId,
        followUp.repository,
        followUp.pullNumber,
        followUp.requestedAt,
        followUp.detail,
      ]);
      return { admitted: true };
    });
  }

  async started(feedbackId: string, runId: string): Promise<void> {
    await this.#database.query(`UPDATE ${this.#followUps} SET run_id = $2 WHERE feedback_id = $1`, [feedbackId, runId]);
  }

  async withdraw(feedbackId: string): Promise<void> {
    await this.#database.query(`DELETE FROM ${this.#followUps} WHERE feedback_id = $1`, [feedbackId]);
  }

  async stop(repository: string, pullNumber: number, by: string): Promise<void> {
    await this.#database.query(
      `INSERT INTO ${this.#pulls} (repository, pull_number, stopped_by, counted_from) VALUES ($1, $2, $3, 0)
       ON CONFLICT (repository, pull_number) DO UPDATE SET stopped_by = EXCLUDED.stopped_by`,
      [repository, pullNumber, by],
    );
  }

  async resume(repository: string, pullNumber: number, at: number): Promise<void> {
    await this.#database.query(
      `INSERT INTO ${this.#pulls} (repository, pull_number, stopped_by, counted_from) VALUES ($1, $2, NULL, $3)
       ON CONFLICT (repository, pull_number) DO UPDATE SET stopped_by = NULL, counted_from = EXCLUDED.counted_from`,
      [repository, pullNumber, at],
    );
  }

  async stoppedBy(repository: string, pullNumber: number): Promise<string | undefined> {
    const { rows } = await this.#database.query<{ stopped_by: string | null }>(
      `SELECT stopped_by FROM ${this.#pulls} WHERE repository = $1 AND pull_number = $2`,
      [repository, pullNumber],
    );
    return rows[0]?.stopped_by ?? undefined;
  }

  async followUpsOf(repository: string, pullNumber: number): Promise<FollowUpRecord[]> {
    const { rows } = await this.#database.query<Row>(
      `SELECT * FROM ${this.#followUps} WHERE repository = $1 AND pull_number = $2 AND requested_at >=
         coalesce((SELECT counted_from FROM ${this.#pulls} WHERE repository = $1 AND pull_number = $2), 0) ORDER BY requested_at`,
      [repository, pullNumber],
    );
    return rows.map(recordOf);
  }

  async unreplied(): Promise<FollowUpRecord[]> {
    const { rows } = await this.#database.query<Row>(
      `SELECT * FROM ${this.#followUps} WHERE run_id IS NOT NULL AND replied_at IS NULL ORDER BY requested_at LIMIT 1000`,
    );
    return rows.map(recordOf);
  }

  async claimReply(runId: string, at: number): Promise<FollowUpRecord | undefined> {
    const { rows } = await this.#database.query<Row>(`UPDATE ${this.#followUps} SET replied_at = $2 WHERE run_id = $1 AND replied_at IS NULL RETURNING *`, [
      runId,
      at,
    ]);
    return rows[0] === undefined ? undefined : recordOf(rows[0]);
  }

  close(): void {}
}

function recordOf(row: Row): FollowUpRecord {
  return {
    feedbackId: row.feedback_id,
    repository: row.repository,
    pullNumber: Number(row.pull_number),
    requestedAt: Number(row.requested_at),
    runId: row.run_id,
    detail: row.detail,
  };
}
