import type { ItemState, RunState } from '@cairn/core';
import { itemStates, runStates } from '@cairn/protocol';
import type { StateCounts } from '../../records/state-counts.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';

/**
 * Counts for metrics. Unlike the scheduler's queries these read whole tables (a GROUP BY over
 * runs and items), which a scrape every few seconds can afford and a scheduling decision could not.
 */
export class StateCountsReader {
  readonly #statements;

  constructor(database: EngineDatabase) {
    const prepare = database.prepare.bind(database);
    this.#statements = {
      runs: prepare<[], { state: RunState; count: number }>('SELECT state, COUNT(*) AS count FROM runs GROUP BY state'),
      items: prepare<[], { state: ItemState; count: number }>('SELECT state, COUNT(*) AS count FROM items GROUP BY state'),
      ready: prepare<[], { count: number }>(`SELECT COUNT(*) AS count FROM items WHERE state = 'ready'`),
      live: prepare<[], { count: number }>(`SELECT COUNT(*) AS count FROM attempts WHERE state IN ('dispatching', 'running')`),
    };
  }

  read(): StateCounts {
    const tally = <State extends string>(states: readonly State[], rows: { state: State; count: number }[]) =>
      Object.fromEntries(states.map((state) => [state, rows.find((row) => row.state === state)?.count ?? 0])) as Record<State, number>;
    return {
      runs: tally(runStates, this.#statements.runs.all()),
      items: tally(itemStates, this.#statements.items.all()),
      readyItems: this.#statements.ready.get()!.count,
      liveAttempts: this.#statements.live.get()!.count,
    };
  }
}
