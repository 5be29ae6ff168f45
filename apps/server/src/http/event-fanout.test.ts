// Server-sent events under load: 200 subscribers on one server while a run of 50 items runs —
// 10 reading with pauses, 10 not reading at all until the run has ended, 20 dropping their
// connection midway and resuming with Last-Event-ID — each ends with exactly the events the audit
// log holds for the run, in order, none missing and none twice; and the server's heap stays bounded.
import type { CairnEvent } from '@cairn/core';
import { eventOfEntry } from '@cairn/engine';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';
import { sseEvents } from './sse-events.test-support.ts';

const serve = runningServers();
const subscribers = 200;
const items = 50;
/** Heap growth allowed while 200 streams follow the run (a behaviour bound: no per-subscriber backlog). */
const heapBound = 150 * 1024 * 1024;

const pause = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));
const terminal = (event: CairnEvent) => event.type === 'run.state' && ['succeeded', 'failed', 'cancelled'].includes(event.state);

interface Block {
  readonly id: number;
  readonly event: CairnEvent;
}

/**
 * One connection: reads events (their `id:` line and data) until the run ends or `stopAfter`
 * events were read; `beforeRead` runs before each chunk is taken (a slow or stalled reader).
 */
async function follow(
  url: string,
  token: string,
  lastEventId: number | undefined,
  options: { readonly stopAfter?: number; readonly beforeRead?: () => Promise<void> },
): Promise<{ blocks: Block[]; ended: boolean }> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }) },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const blocks: Block[] = [];
  try {
    for await (const { id, event } of sseEvents(response.body!, options.beforeRead)) {
      if (id === undefined) continue;
      blocks.push({ id, event });
      if (terminal(event)) return { blocks, ended: true };
      if (options.stopAfter !== undefined && blocks.length >= options.stopAfter) return { blocks, ended: false };
    }
    return { blocks, ended: false };
  } finally {
    controller.abort();
  }
}

test(
  `${subscribers} SSE subscribers, some slow, stalled or resuming with Last-Event-ID, each see every event of a ${items}-item run once, in order; heap bounded`,
  { timeout: 90_000 },
  async () => {
    const { base, api, composition, operatorToken } = await serve();
    const spec = {
      version: 1,
      name: 'fanout',
      items: Array.from({ length: items }, (_, index) => ({
        id: `item-${index}`,
        ...(index >= 10 ? { dependsOn: [`item-${index % 10}`] } : {}),
        runtime: { kind: 'command', argv: ['/bin/sh', '-c', `echo ${index} > out-${index}.txt`] },
      })),
    };
    const submitted = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    expect(submitted.status).toBe(201);
    const { runId } = (await submitted.json()) as { runId: string };

    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 25);
    const runEnded = composition.engine.waitForRun(runId);
    let resumed = 0;
    const received = await Promise.all(
      Array.from({ length: subscribers }, async (_, index) => {
        // Half follow every event, half this run's: with one run on the server, the same events.
        const url = index % 2 === 0 ? `${base}/v1/events` : `${base}/v1/runs/${runId}/events`;
        if (index < 10) return (await follow(url, operatorToken, undefined, { beforeRead: () => pause(15 + index) })).blocks;
        if (index < 20) {
          // Stalled: takes nothing from its socket until the run has ended.
          let first = true;
          const beforeRead = async () => {
            if (!first) return;
            first = false;
            await runEnded;
          };
          return (await follow(url, operatorToken, undefined, { beforeRead })).blocks;
        }
        if (index < 40) {
          const firstPart = await follow(url, operatorToken, undefined, { stopAfter: 3 + (index % 17) * 4 });
          if (firstPart.ended) return firstPart.blocks;
          resumed++;
          const rest = await follow(url, operatorToken, firstPart.blocks.at(-1)!.id, {});
          return [...firstPart.blocks, ...rest.blocks];
        }
        return (await follow(url, operatorToken, undefined, {})).blocks;
      }),
    );
    clearInterval(sampler);
    expect((await runEnded).state).toBe('succeeded');

    // The audit log is the oracle: the run's events are its entries that change a state.
    const expected = composition.engine.audit.runEntries(runId).flatMap((entry) => {
      const event = eventOfEntry(entry);
      return event ? [event] : [];
    });
    const last = expected.findIndex(terminal);
    const full = expected.slice(0, last + 1);
    expect(full.length).toBeGreaterThan(items * 3);
    for (const [index, blocks] of received.entries()) {
      expect([index, blocks.map((block) => block.id)]).toEqual([index, full.map((event) => event.id)]);
      expect(blocks.map((block) => block.event)).toEqual(full);
    }
    // The resuming subscribers did drop their connection before the end (the check is not vacuous).
    expect(resumed).toBeGreaterThanOrEqual(15);
    expect(peak - baseline).toBeLessThan(heapBound);
    // Still answering.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  },
);
