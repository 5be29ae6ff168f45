import type { CairnClient } from '@cairn/client';
import type { CairnEvent, ItemState } from '@cairn/core';
import { isTerminalState, itemTransitions, runTransitions } from '@cairn/protocol';

/** What one `wait_for_run` call answers: the run when it ended, or where it is when the call's time ran out. */
export interface BoundedRunWait {
  readonly runId: string;
  /** True when the run has ended; false when this call stopped waiting first (call again). */
  readonly done: boolean;
  readonly state: string;
  readonly itemsTotal: number;
  readonly itemsFinished: number;
  readonly itemsFailed: number;
  readonly waitedSeconds: number;
  /** Items that wait for a person to approve them: the run cannot end before someone does. */
  readonly awaitingApproval?: string[];
  /** What to do next, when `done` is false. */
  readonly next?: string;
}

/** One progress step: `progress` only grows, as MCP requires. */
export interface RunWaitProgress {
  readonly progress: number;
  readonly total: number;
  readonly message: string;
}

/**
 * Waits for a run to end, but at most `seconds`, so that an MCP client's request timeout (60 s in
 * the SDK's default client) is never reached: a run still going is answered `done: false` and the
 * caller asks again. `onProgress`, when given, is told each time more items have ended.
 */
export async function boundedRunWait(
  client: CairnClient,
  runId: string,
  options: { readonly seconds: number; readonly signal?: AbortSignal; readonly onProgress?: (progress: RunWaitProgress) => void },
): Promise<BoundedRunWait> {
  const started = performance.now();
  const deadline = AbortSignal.timeout(options.seconds * 1000);
  const signal = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  let onEvent: ((event: CairnEvent) => void) | undefined;
  let reported = -1;
  const report = (ended: number, total: number, latest?: string) => {
    if (ended <= reported) return;
    reported = ended;
    options.onProgress?.({ progress: ended, total, message: `${ended} of ${total} items ended${latest ? ` (latest: ${latest})` : ''}` });
  };
  if (options.onProgress) {
    // Only a caller that asked for progress pays for the item list.
    const itemStates = new Map<string, ItemState>((await client.items(runId)).map((item) => [item.itemId, item.state]));
    const tell = (latest?: string) =>
      report([...itemStates.values()].filter((state) => isTerminalState(itemTransitions, state)).length, itemStates.size, latest);
    tell();
    onEvent = (event) => {
      if (event.type !== 'item.state') return;
      itemStates.set(event.itemId, event.state);
      tell(`${event.itemId} ${event.state}`);
    };
  }
  const run = await client.waitForRun(runId, { signal, ...(onEvent ? { onEvent } : {}) });
  const done = isTerminalState(runTransitions, run.state);
  // The run's end can come before the event of its last item: its last progress is told before the answer.
  if (done) report(run.itemsFinished, run.itemsTotal);
  const answer = {
    runId: run.runId,
    done,
    state: run.state,
    itemsTotal: run.itemsTotal,
    itemsFinished: run.itemsFinished,
    itemsFailed: run.itemsFailed,
    waitedSeconds: Math.round((performance.now() - started) / 100) / 10,
  };
  if (done) return answer;
  const awaitingApproval = (await client.items(runId)).filter((item) => item.state === 'awaiting-approval').map((item) => item.itemId);
  const why =
    awaitingApproval.length > 0
      ? ` Items ${awaitingApproval.join(', ')} wait for a person to approve them (cairn approve); the run cannot end before that.`
      : '';
  return {
    ...answer,
    ...(awaitingApproval.length > 0 ? { awaitingApproval } : {}),
    next: `The run is still ${run.state}: call wait_for_run again with the same runId to keep waiting.${why}`,
  };
}
