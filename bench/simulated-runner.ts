// A runner without sandboxes, as the server sees one: it long-polls `POST /v1/runner/poll` with
// its free slots, takes what it is leased, and polls again at once, that poll carrying each lease's
// exit (as `cairn runner` reports an attempt's end). Only the server's side of runners is left to
// measure.
//
// Its requests go through `node:http` on a kept-alive connection of its own, as a runner on a host
// of its own keeps one: fifty of them share this process, and this process shares the server's
// two cores. Through `fetch` (undici) they took 1.0–1.3 ms of CPU an attempt, about twice as much,
// CPU the server's side then did not have; the one runner of 100 slots, with 1/50th of the
// requests, was slowed far less, so the fleets' ratio measured the client as much as the server.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';

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
  /** One connection, kept alive: a poll and an exits report never overlap. */
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });
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
    this.#agent.destroy();
  }

  async #run(): Promise<void> {
    // The exits of the leases the last answer gave, carried by the next poll as `cairn runner` carries them.
    let exits: { executionId: string; status: typeof succeeded }[] = [];
    while (!this.#stop.signal.aborted) {
      let answer: { leases: { executionId: string }[]; exits?: { accepted: string[]; refused: unknown[] } };
      try {
        const poll = { version: runnerVersion, labels: [], slots: this.#slots, held: [], waitMs: 25_000, ...(exits.length > 0 ? { exits } : {}) };
        answer = (await this.#post('/v1/runner/poll', poll)) as typeof answer;
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        throw error;
      }
      if (exits.length > 0 && answer.exits?.accepted.length !== exits.length) throw new Error(`exits not all taken: ${JSON.stringify(answer.exits)}`);
      exits = [];
      if (answer.leases.length === 0) continue;
      this.answered++;
      const now = performance.now();
      for (let index = 0; index < answer.leases.length; index++) this.leasedAt.push(now);
      exits = answer.leases.map((lease) => ({ executionId: lease.executionId, status: succeeded }));
    }
  }

  #post(path: string, body: unknown): Promise<unknown> {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const sent = request(
        `${this.#base}${path}`,
        {
          method: 'POST',
          agent: this.#agent,
          headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
          signal: this.#stop.signal,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (response.statusCode !== 200) reject(new Error(`${path} answered ${response.statusCode}: ${text}`));
            else resolve(JSON.parse(text) as unknown);
          });
        },
      );
      sent.on('error', reject);
      sent.end(payload);
    });
  }
}
