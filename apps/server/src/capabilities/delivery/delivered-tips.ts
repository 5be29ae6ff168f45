import { createHash } from 'node:crypto';
import type { StorageProviderV1 } from '@cairn/core';
import { z } from 'zod';

const tipSchema = z.strictObject({ forge: z.string(), branch: z.string(), commit: z.string(), runId: z.string(), itemId: z.string() });

/** The commit a delivery last pushed to a branch, and which run and item pushed it. */
export type DeliveredTip = z.output<typeof tipSchema>;

/**
 * The commit each delivery pushed, by forge and branch (`deliveries/<forge>/<sha256 of branch>.json`
 * in the engine's storage, so every replica reads the same), passed as `expectedTip` to the next
 * push to that branch (ADR 0037): a commit someone pushed on top since is never replaced, and a
 * branch Cairn never pushed to must not exist yet (`null`).
 */
export class DeliveredTips {
  readonly #storage: StorageProviderV1;

  constructor(storage: StorageProviderV1) {
    this.#storage = storage;
  }

  /** The commit last delivered to `branch` of `forge`, or null when Cairn never pushed to it. */
  async read(forge: string, branch: string): Promise<DeliveredTip | null> {
    const bytes = await this.#storage.get(tipKey(forge, branch));
    if (bytes === null) return null;
    const parsed = tipSchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
    return parsed.success && parsed.data.forge === forge && parsed.data.branch === branch ? parsed.data : null;
  }

  /** Records the commit a delivery pushed (or found there already). */
  async write(tip: DeliveredTip): Promise<void> {
    await this.#storage.put(tipKey(tip.forge, tip.branch), Buffer.from(JSON.stringify(tip)), { contentType: 'application/json' });
  }
}

// The branch by its hash: a key holds no "/" of the branch's own, and any branch name fits.
function tipKey(forge: string, branch: string): string {
  return `deliveries/${forge}/${createHash('sha256').update(branch).digest('hex')}.json`;
}
