// The client of growing-run-reads.ts (its reads, and a cancel once the run has grown), in a worker
// thread of its own: its requests leave on time
// and its clock runs while the server's event loop is held, so a held loop shows as a slow answer
// (a client in the server's thread would only send its next request late, and time it as fast).
import { parentPort, workerData } from 'node:worker_threads';

interface Orders {
  readonly base: string;
  readonly token: string;
  readonly runId: string;
  readonly pollMs: number;
  /** Cancel the run once a read shows more items than this (never when absent). */
  readonly cancelAbove?: number;
}

const { base, token, runId, pollMs, cancelAbove } = workerData as Orders;
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
const reads: number[] = [];
let cancel: Promise<{ ms: number; status: number; itemsTotal: number }> | undefined;
let stopped = false;

parentPort!.once('message', () => (stopped = true));

async function timed(request: () => Promise<Response>): Promise<{ ms: number; status: number; itemsTotal: number }> {
  const started = performance.now();
  const response = await request();
  const body = (await response.json()) as { itemsTotal?: number };
  return { ms: performance.now() - started, status: response.status, itemsTotal: body.itemsTotal ?? 0 };
}

while (!stopped) {
  const read = await timed(() => fetch(`${base}/v1/runs/${runId}`, { headers }));
  if (read.status !== 200) throw new Error(`GET run answered ${read.status}`);
  reads.push(read.ms);
  // Sent beside the reads, which go on: its time is its own.
  if (cancelAbove !== undefined && read.itemsTotal > cancelAbove)
    cancel ??= timed(() => fetch(`${base}/v1/runs/${runId}/cancel`, { method: 'POST', headers, body: '{}' }));
  await new Promise((resolve) => setTimeout(resolve, pollMs));
}
parentPort!.postMessage({ reads, cancel: cancel === undefined ? undefined : await cancel });
