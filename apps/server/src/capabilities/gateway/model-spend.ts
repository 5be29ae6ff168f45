import { addModelCallSpend, noModelCallSpend, spendOfModelCall } from '@cairn/audit';
import type { AuditEntry, ModelCallSpend } from '@cairn/core';

/**
 * A run's spend so far, whole and by item, as its `model.called` entries say (the verifier's own
 * sums, `@cairn/audit`): what the gateway compares budgets with. Summed once from the entries when
 * a process first sees the run, then kept up to date with each call it records.
 */
export class RunSpend {
  #run: ModelCallSpend = noModelCallSpend;
  readonly #items = new Map<string, ModelCallSpend>();

  /** The spend of a run's `model.called` entries, read as they come. */
  static async read(entries: AsyncIterable<AuditEntry>): Promise<RunSpend> {
    const spend = new RunSpend();
    for await (const entry of entries) spend.add(entry);
    return spend;
  }

  /** Counts one more entry of the run (one of another action is passed over). */
  add(entry: AuditEntry): void {
    const spent = spendOfModelCall(entry);
    const itemId = entry.data['itemId'];
    if (spent === undefined || typeof itemId !== 'string') return;
    this.#run = addModelCallSpend(this.#run, spent);
    this.#items.set(itemId, addModelCallSpend(this.#items.get(itemId) ?? noModelCallSpend, spent));
  }

  get run(): ModelCallSpend {
    return this.#run;
  }

  item(itemId: string): ModelCallSpend {
    return this.#items.get(itemId) ?? noModelCallSpend;
  }

  /** The items that made calls, each with its spend. */
  items(): Record<string, ModelCallSpend> {
    return Object.fromEntries(this.#items);
  }
}
