// A server with runners enabled (and the instant executor as its own), in a process of its own,
// for simulated runners polling it over HTTP from runners.bench.ts: run with
// `--conditions=@cairn/source`, so this process loads the engine from its source and can time each
// of its dispatch passes (the engine measures none itself): `Dispatcher.prototype.dispatchNext`
// is wrapped, from the call to the pass's starts recorded.
//
// argv: <runner tokens to make> <engine concurrency>. Prints one JSON line when it listens
// ({ base, operatorToken, tokens }); then, for each line on stdin, `start` clears what was measured
// (answers `started`) and `report` prints what was since ({ passes, cpuMs }). Closes at stdin's end.
import { createInterface } from 'node:readline';
import { Dispatcher } from '../packages/engine/src/dispatch/dispatcher.ts';
import { InstantExecutor } from './instant-executor.ts';
import { startRunnersServer } from './runners-server.ts';

export interface RunnersServerReady {
  readonly base: string;
  readonly operatorToken: string;
  readonly tokens: readonly string[];
}

export interface RunnersServerReport {
  /** Each dispatch pass that moved items: its milliseconds and how many it moved. */
  readonly passes: readonly { readonly ms: number; readonly moved: number }[];
  /** This process's CPU time (user + system) since `start`. */
  readonly cpuMs: number;
}

const [tokenCount, concurrency] = process.argv.slice(2).map(Number);
if (!Number.isInteger(tokenCount) || !Number.isInteger(concurrency)) throw new Error('usage: runners-server-child.ts <runner tokens> <engine concurrency>');

let passes: { ms: number; moved: number }[] = [];
const timed = new WeakSet<Promise<unknown>>();
const dispatchNext = Dispatcher.prototype.dispatchNext;
Dispatcher.prototype.dispatchNext = function (this: Dispatcher, options) {
  const began = performance.now();
  const pass = dispatchNext.call(this, options);
  // A call during a pass is given that pass: timed once, from its first call.
  if (!timed.has(pass)) {
    timed.add(pass);
    pass.then(
      async ({ moved, started }) => {
        await started;
        if (moved > 0) passes.push({ ms: performance.now() - began, moved });
      },
      () => {},
    );
  }
  return pass;
};

const server = await startRunnersServer({ concurrency: concurrency!, executors: { instant: new InstantExecutor({ record: false }) } });
const tokens = await Promise.all(Array.from({ length: tokenCount! }, (_, index) => server.runnerToken(`simulated-${index}`)));
process.stdout.write(`${JSON.stringify({ base: server.base, operatorToken: server.operatorToken, tokens } satisfies RunnersServerReady)}\n`);

let cpu = process.cpuUsage();
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'start') {
    passes = [];
    cpu = process.cpuUsage();
    process.stdout.write('started\n');
  } else if (line === 'report') {
    const used = process.cpuUsage(cpu);
    process.stdout.write(`${JSON.stringify({ passes, cpuMs: (used.user + used.system) / 1000 } satisfies RunnersServerReport)}\n`);
  }
}
await server.close();
