import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunnerExitStatus } from '@cairn/protocol';

/**
 * Exits a runner has not had accepted yet, one JSON file each under `<stateDirectory>/exits`: a
 * runner restarted while its server was away still reports how its attempts ended (within their
 * lease, which it heartbeats by listing them). Written atomically (temp file and rename).
 */
export class UnreportedExits {
  readonly #directory: string;

  constructor(stateDirectory: string) {
    this.#directory = join(stateDirectory, 'exits');
    mkdirSync(this.#directory, { recursive: true, mode: 0o700 });
  }

  /** Every exit kept, in no particular order; a file that is not a whole one is skipped. */
  read(): Map<string, RunnerExitStatus> {
    const exits = new Map<string, RunnerExitStatus>();
    for (const name of readdirSync(this.#directory)) {
      if (!name.endsWith('.json')) continue;
      try {
        const kept = JSON.parse(readFileSync(join(this.#directory, name), 'utf8')) as { executionId?: unknown; status?: RunnerExitStatus };
        if (typeof kept.executionId === 'string' && kept.status?.state === 'exited') exits.set(kept.executionId, kept.status);
      } catch {
        // Cut short by a crash mid-write: its attempt is lost to the server, as if never reported.
      }
    }
    return exits;
  }

  write(executionId: string, status: RunnerExitStatus): void {
    const path = this.#path(executionId);
    writeFileSync(`${path}.tmp`, JSON.stringify({ executionId, status }), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }

  remove(executionId: string): void {
    rmSync(this.#path(executionId), { force: true });
  }

  // Named by a digest of the id: an id is the server's text, up to 512 characters of anything.
  #path(executionId: string): string {
    return join(this.#directory, `${createHash('sha256').update(executionId).digest('hex')}.json`);
  }
}
