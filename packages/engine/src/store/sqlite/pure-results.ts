import type { EngineDatabase } from '../shared/engine-database.ts';

/** An earlier success of a pure item, reusable by any item with the same input digest. */
export interface PureResult {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly artifacts: Readonly<Record<string, string>>;
}

/**
 * Results of `effect: pure` items by input digest. The first success under a digest is kept:
 * pure means any success is as good as another, and keeping the first makes reuse stable.
 */
export class PureResults {
  readonly #find;
  readonly #record;

  constructor(database: EngineDatabase) {
    this.#find = database.prepare<[string], { runId: string; itemId: string; attempt: number; artifacts: string }>(
      'SELECT run_id AS runId, item_id AS itemId, attempt, artifacts FROM pure_results WHERE input_digest = ?',
    );
    this.#record = database.prepare(
      'INSERT OR IGNORE INTO pure_results (input_digest, run_id, item_id, attempt, artifacts, exit_code, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
  }

  find(inputDigest: string): PureResult | undefined {
    const row = this.#find.get(inputDigest);
    return row && { ...row, artifacts: JSON.parse(row.artifacts) as Record<string, string> };
  }

  /** Records a succeeded attempt of a pure item under its input digest. */
  record(
    attempt: { readonly runId: string; readonly itemId: string; readonly attempt: number; readonly inputDigest: string | null },
    artifacts: Readonly<Record<string, string>>,
    exitCode: number | null,
    at: string,
  ): void {
    this.#record.run(attempt.inputDigest, attempt.runId, attempt.itemId, attempt.attempt, JSON.stringify(artifacts), exitCode, at);
  }
}
