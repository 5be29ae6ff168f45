import type { AttemptFailure, AttemptFailureSummary, CairnEvent, ItemState } from '@cairn/core';

/** The order states are counted in: the way an item moves, the ends last. */
const stateOrder: readonly ItemState[] = ['blocked', 'awaiting-approval', 'ready', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'];
const finished = new Set<ItemState>(['succeeded', 'failed', 'skipped', 'cancelled']);

/** Where progress goes: a stream's `write`, and whether it is a terminal that can be redrawn. */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  /** The terminal's width: a longer line would wrap, and only its last row would be redrawn. */
  readonly columns?: number;
}

/**
 * One line for a run's items: a bar of finished items over all, then the count in each state
 * present, e.g. `[########............] 2/5 done  running 1 · succeeded 2 · blocked 2`; with
 * `added`, the items planners and `forEach` added since the watch began, so a total that grows
 * reads as growth (`2/5 done, 3 added`) and never as the count going back.
 */
export function renderProgressLine(states: ReadonlyMap<string, ItemState>, barWidth = 20, added = 0): string {
  const total = states.size;
  const counts = new Map<ItemState, number>();
  for (const state of states.values()) counts.set(state, (counts.get(state) ?? 0) + 1);
  const done = [...finished].reduce((sum, state) => sum + (counts.get(state) ?? 0), 0);
  const filled = total === 0 ? 0 : Math.round((done / total) * barWidth);
  const byState = stateOrder.filter((state) => counts.has(state)).map((state) => `${state} ${counts.get(state)}`);
  const growth = added > 0 ? `, ${added} added` : '';
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${done}/${total} done${growth}${byState.length > 0 ? `  ${byState.join(' · ')}` : ''}`;
}

/**
 * Live progress of one run's items. On a terminal it redraws a single line in place (the bar and
 * the count by state); anywhere else (a pipe, a log file, CI) it writes one plain line per item
 * state change, which stays readable after the fact, where a redrawn line would be a mess of `\r`.
 *
 * The count of finished items never goes back: an item seen finished stays finished here. The
 * event stream starts at the run's first event, so following a run already under way replays
 * states older than the items it started from; and a total that grows (a planner's or a
 * `forEach`'s items) is said as items added. Items a planner adds arrive just before its own end:
 * their lines wait for the next line that is not another item's arrival, so the planner's end comes first.
 */
export class RunProgress {
  readonly #states = new Map<string, ItemState>();
  readonly #output: ProgressOutput;
  /** Items added since the watch began (by planners, `forEach`). */
  #added = 0;
  /** The total the last plain line said: a line after the total grew says by how many. */
  #totalSaid: number;
  /** Plain lines of items just added, written after the next line of an item known before. */
  #held: { readonly itemId: string; readonly state: ItemState; readonly why: string }[] = [];
  #drawn = false;
  /**
   * The plain lines' id column: as wide as the longest id known (16 at least), so long ids do not
   * push the states out of line; it widens only when a planner adds a longer one.
   */
  #idWidth = 16;

  constructor(items: readonly { readonly itemId: string; readonly state: ItemState }[], output: ProgressOutput) {
    for (const item of items) this.#states.set(item.itemId, item.state);
    this.#idWidth = Math.max(16, ...items.map((item) => item.itemId.length));
    this.#output = output;
    this.#totalSaid = this.#states.size;
    this.#redraw();
  }

  /** Takes an event of the run; only item state changes move the progress. */
  onEvent(event: CairnEvent): void {
    if (event.type === 'item.state') this.update(event.itemId, event.state, event.failure);
  }

  /** An item moved; a failed one's plain line ends with its failure's code and rule (the message comes with the item). */
  update(itemId: string, state: ItemState, failure?: AttemptFailureSummary): void {
    const known = this.#states.get(itemId);
    if (known === state) return;
    // Finished stays finished: a state before it is one replayed from before the watch began.
    if (known !== undefined && finished.has(known) && !finished.has(state)) return;
    // Items added one after another are held; the next other line (their planner's end) goes first,
    // unless it is one of theirs, which comes after them.
    if (!this.#output.isTTY && known !== undefined && this.#held.some((line) => line.itemId === itemId)) this.#release();
    if (known === undefined) this.#added += 1;
    this.#states.set(itemId, state);
    this.#idWidth = Math.max(this.#idWidth, itemId.length);
    const why = failure === undefined ? '' : `  ${failure.code}${failure.rule === undefined ? '' : ` (rule ${failure.rule})`}`;
    if (this.#output.isTTY) return this.#redraw();
    if (known === undefined) return void this.#held.push({ itemId, state, why });
    this.#writeLine(itemId, state, why);
    this.#release();
  }

  /** A line of its own (an approval given, a warning), printed above the live line. */
  note(text: string): void {
    if (this.#output.isTTY) {
      this.#output.write(`\r\x1b[2K${text}\n`);
      this.#redraw();
    } else {
      this.#release();
      this.#output.write(`${text}\n`);
    }
  }

  /** Leaves the last state on screen and moves past it. */
  done(): void {
    this.#release();
    if (this.#output.isTTY && this.#drawn) this.#output.write('\n');
    this.#drawn = false;
  }

  /** The held lines of added items, in the order they came. */
  #release(): void {
    for (const line of this.#held.splice(0)) this.#writeLine(line.itemId, line.state, line.why);
  }

  /** `  plan             succeeded         1/5 done, 3 more added`: the count as it is now. */
  #writeLine(itemId: string, state: ItemState, why: string): void {
    const total = this.#states.size;
    const growth = total > this.#totalSaid ? `, ${total - this.#totalSaid} more added` : '';
    this.#totalSaid = total;
    this.#output.write(`  ${itemId.padEnd(this.#idWidth)} ${state.padEnd(17)} ${this.#finishedCount()}/${total} done${growth}${why}\n`);
  }

  #redraw(): void {
    if (!this.#output.isTTY) return;
    const line = renderProgressLine(this.#states, 20, this.#added);
    const width = this.#output.columns;
    this.#output.write(`\r\x1b[2K${width !== undefined && width > 1 && line.length >= width ? line.slice(0, width - 1) : line}`);
    this.#drawn = true;
  }

  #finishedCount(): number {
    return [...this.#states.values()].filter((state) => finished.has(state)).length;
  }
}

const nowhere: ProgressOutput = { write: () => undefined };

/**
 * Where a command's progress goes: a terminal on stderr gets the redrawn line; otherwise plain
 * lines go to stdout as part of the command's text, or, with --json, nowhere, so that stdout stays
 * the JSON document and stderr stays for errors.
 */
export function progressOutput(json: boolean): ProgressOutput {
  if (process.stderr.isTTY) return process.stderr;
  return json ? nowhere : process.stdout;
}

/**
 * One line per failed item saying why, then the end of its stderr indented beneath:
 * `build failed: CAIRN_EXIT_NONZERO The runtime exited with code 1 (exit 1)`, with the signal and
 * the rule that refused its change when there are. A message of several lines (a merge conflict's
 * hunks after its summary) has its first line there and the rest beneath, as it was written; the
 * stderr lines it already shows are not shown twice. Everything in it was redacted by the worker.
 */
export function failureLines(items: readonly { readonly itemId: string; readonly state: ItemState; readonly failure?: AttemptFailure | null }[]): string[] {
  const lines: string[] = [];
  for (const item of items) {
    if (item.state !== 'failed' || !item.failure) continue;
    const { code, message, exitCode, signal, rule, stderrTail } = item.failure;
    const how = [
      exitCode === null ? undefined : `exit ${exitCode}`,
      signal === null ? undefined : `signal ${signal}`,
      rule === undefined ? undefined : `rule ${rule}`,
    ].filter((part) => part !== undefined);
    const [summary = '', ...rest] = message.split(/\r?\n/);
    lines.push(`${item.itemId} failed: ${code} ${oneLine(summary)}${how.length > 0 ? ` (${how.join('; ')})` : ''}`);
    const detail = rest.map(oneLine).filter((line) => line.trim() !== '');
    for (const line of detail) lines.push(`    ${line}`);
    const shown = new Set(detail.map((line) => line.trim()));
    const tail = stderrTail
      .split('\n')
      .filter((line) => line.trim() !== '' && !shown.has(oneLine(line).trim()))
      .slice(-5);
    for (const line of tail) lines.push(`    | ${oneLine(line)}`);
  }
  return lines;
}

/** A message on one line, without terminal control characters (it came from a runtime's output). */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\r\n]+/g, ' ').replace(/[\u0000-\u001f\u007f-\u009f]/g, '');
}
