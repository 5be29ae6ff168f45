// A runner without sandboxes, as the server sees one: it long-polls `POST /v1/runner/poll` with
// its free slots, takes what it is leased, and reports each lease exited at once on
// `POST /v1/runner/exits`, then polls again. Only the server's side of runners is left to measure.
import { readFileSync } from 'node:fs';

/** The version a runner of this checkout sends (the server refuses another minor version). */
const runnerVersion = (JSON.parse(readFileSync(new URL('../packages/runner/package.json', import.meta.url), 'utf8')) as { version: string }).version;
const succeeded = { state: 'exited', outcome: 'succeeded', exitCode: 0 } as const;

export class SimulatedRunner {
  /** When (performance.now()) each lease arrived. */
  readonly leasedAt: number[] = [];
  /** Polls answered with leases. */
  answered = 0;
  readonly #base: string;
  readonly #token: string;
  readonly #slots: number;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(base: string, token: string, slots: number) {
    this.#base = base;
    this.#token = token;
    this.#slots = slots;
  }

  /** Starts polling; the promise rejects when the server refuses a poll or an exit. */
  start(): Promise<void> {
    this.#loop = this.#run();
    return this.#loop;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      let answer: { leases: { executionId: string }[] };
      try {
        answer = (await this.#post('/v1/runner/poll', { version: runnerVersion, labels: [], slots: this.#slots, held: [], waitMs: 25_000 })) as typeof answer;
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        throw error;
      }
      if (answer.leases.length === 0) continue;
      this.answered++;
      const now = performance.now();
      for (let index = 0; index < answer.leases.length; index++) this.leasedAt.push(now);
      const reported = (await this.#post('/v1/runner/exits', {
        exits: answer.leases.map((lease) => ({ executionId: lease.executionId, status: succeeded })),
      })) as { accepted: string[]; refused: unknown[] };
      if (reported.refused.length > 0) throw new Error(`exits refused: ${JSON.stringify(reported.refused)}`);
    }
  }

  async #post(path: string, body: unknown): Promise<unknown> {
    const response = await fetch(`${this.#base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: this.#stop.signal,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as unknown;
  }
}
