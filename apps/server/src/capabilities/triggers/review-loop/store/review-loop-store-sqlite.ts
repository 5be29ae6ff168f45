import Database from 'better-sqlite3';
import { hourMs, ReviewLoopStore, type FollowUpAdmission, type FollowUpLimits, type FollowUpRecord } from '../review-loop-store.ts';

interface Row {
  feedback_id: string;
  repository: string;
  pull_number: number;
  requested_at: number;
  run_id: string | null;
  detail: string;
}

/**
 * The review loop's records in `triggers.db` of the data directory (one server). Its statements run
 * synchronously inside one SQLite transaction, before any promise is made: two deliveries arriving
 * together are admitted one after the other.
 */
export class SqliteReviewLoopStore extends ReviewLoopStore {
  readonly #database: Database.Database;

  constructor(file: string) {
    super();
    this.#database = new Database(file);
    this.#database.pragma('journal_mode = WAL');
    this.#database.pragma('busy_timeout = 5000');
    this.#database.exec(`
      CREATE TABLE IF NOT EXISTS review_follow_ups (
        feedback_id TEXT PRIMARY KEY, repository TEXT NOT NULL, pull_number INTEGER NOT NULL, requested_at INTEGER NOT NULL,
        run_id TEXT, detail TEXT NOT NULL, replied_at INTEGER
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS review_follow_ups_pull ON review_follow_ups (repository, pull_number, requested_at);
      CREATE INDEX IF NOT EXISTS review_follow_ups_requested ON review_follow_ups (requested_at);
      CREATE INDEX IF NOT EXISTS review_follow_ups_run ON review_follow_ups (run_id);
      CREATE TABLE IF NOT EXISTS review_pull_requests (
        repository TEXT NOT NULL, pull_number INTEGER NOT NULL, stopped_by TEXT, counted_from INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (repository, pull_number)
      ) WITHOUT ROWID;
    `);
  }

  admit(followUp: Omit<FollowUpRecord, 'runId'>, limits: FollowUpLimits): Promise<FollowUpAdmission> {
    const database = this.#database;
    const admit = database.transaction((): FollowUpAdmission => {
      const pull = database
        .prepare('SELECT stopped_by, counted_from FROM review_pull_requests WHERE repository = ? AND pull_number = ?')
        .get(followUp.repository, followUp.pullNumber) as { stopped_by: string | null; counted_from: number } | undefined;
      if (pull?.stopped_by) return { admitted: false, bound: 'stopped', stoppedBy: pull.stopped_by };
      const { count: ofPull } = database
        .prepare('SELECT count(*) AS count FROM review_follow_ups WHERE repository = ? AND pull_number = ? AND requested_at >= ?')
        .get(followUp.repository, followUp.pullNumber, pull?.counted_from ?? 0) as { count: number };
      if (ofPull >= limits.perPullRequest) return { admitted: false, bound: 'pull-request', count: ofPull, max: limits.perPullRequest };
      const hour = database
        .prepare('SELECT count(*) AS count, min(requested_at) AS oldest FROM review_follow_ups WHERE requested_at > ?')
        .get(followUp.requestedAt - hourMs) as { count: number; oldest: number | null };
      if (hour.count >= limits.perHour)
        return { admitted: false, bound: 'hour', count: hour.count, max: limits.perHour, freeAt: (hour.oldest ?? followUp.requestedAt) + hourMs };
      database
        .prepare('INSERT INTO review_follow_ups (feedback_id, repository, pull_number, requested_at, detail) VALUES (?, ?, ?, ?, ?)')
        .run(followUp.feedbackId, followUp.repository, followUp.pullNumber, followUp.requestedAt, followUp.detail);
      return { admitted: true };
    });
    return Promise.resolve(admit.immediate());
  }

  started(feedbackId: string, runId: string): Promise<void> {
    this.#database.prepare('UPDATE review_follow_ups SET run_id = ? WHERE feedback_id = ?').run(runId, feedbackId);
    return Promise.resolve();
  }

  withdraw(feedbackId: string): Promise<void> {
    this.#database.prepare('DELETE FROM review_follow_ups WHERE feedback_id = ?').run(feedbackId);
    return Promise.resolve();
  }

  stop(repository: string, pullNumber: number, by: string): Promise<void> {
    this.#database
      .prepare(
        'INSERT INTO review_pull_requests (repository, pull_number, stopped_by) VALUES (?, ?, ?) ON CONFLICT (repository, pull_number) DO UPDATE SET stopped_by = excluded.stopped_by',
      )
      .run(repository, pullNumber, by);
    return Promise.resolve();
  }

  resume(repository: string, pullNumber: number, at: number): Promise<void> {
    this.#database
      .prepare(
        'INSERT INTO review_pull_requests (repository, pull_number, stopped_by, counted_from) VALUES (?, ?, NULL, ?) ON CONFLICT (repository, pull_number) DO UPDATE SET stopped_by = NULL, counted_from = excluded.counted_from',
      )
      .run(repository, pullNumber, at);
    return Promise.resolve();
  }

  stoppedBy(repository: string, pullNumber: number): Promise<string | undefined> {
    const row = this.#database.prepare('SELECT stopped_by FROM review_pull_requests WHERE repository = ? AND pull_number = ?').get(repository, pullNumber) as
      { stopped_by: string | null } | undefined;
    return Promise.resolve(row?.stopped_by ?? undefined);
  }

  followUpsOf(repository: string, pullNumber: number): Promise<FollowUpRecord[]> {
    const rows = this.#database
      .prepare(
        `SELECT * FROM review_follow_ups WHERE repository = ? AND pull_number = ? AND requested_at >=
           coalesce((SELECT counted_from FROM review_pull_requests WHERE repository = ? AND pull_number = ?), 0) ORDER BY requested_at`,
      )
      .all(repository, pullNumber, repository, pullNumber) as Row[];
    return Promise.resolve(rows.map(recordOf));
  }

  unreplied(): Promise<FollowUpRecord[]> {
    const rows = this.#database
      .prepare('SELECT * FROM review_follow_ups WHERE run_id IS NOT NULL AND replied_at IS NULL ORDER BY requested_at LIMIT 1000')
      .all() as Row[];
    return Promise.resolve(rows.map(recordOf));
  }

  claimReply(runId: string, at: number): Promise<FollowUpRecord | undefined> {
    const row = this.#database.prepare('UPDATE review_follow_ups SET replied_at = ? WHERE run_id = ? AND replied_at IS NULL RETURNING *').get(at, runId) as
      Row | undefined;
    return Promise.resolve(row === undefined ? undefined : recordOf(row));
  }

  close(): void {
    this.#database.close();
  }
}

function recordOf(row: Row): FollowUpRecord {
  return {
    feedbackId: row.feedback_id,
    repository: row.repository,
    pullNumber: row.pull_number,
    requestedAt: row.requested_at,
    runId: row.run_id,
    detail: row.detail,
  };
}
