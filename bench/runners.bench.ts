// Runners (issue 53, ADR 0050): what one runner daemon keeps going, and what the server's side of
// runners (the lease book and its routes) costs the engine when 50 of them poll.
//
// - One runner: a server with runners enabled (engine concurrency 32) and one `cairn runner`
//   daemon with 32 slots in a process of its own, running 200 items of `true` in bubblewrap: the
//   attempts started and completed per second (from the submit to the last attempt's start, and
//   to the run's end), and how full its 32 slots were kept while work was queued; beside it the
//   same 200 items on the server's own local executor, in turns in the same run.
// - 50 simulated runners: HTTP clients in this process that poll the real routes of a server in a
//   process of its own, take their leases and report them exited at once (no sandbox), 2,000
//   items; against 1 simulated runner with as many slots. The server's process times every
//   dispatch pass of its engine (runners-server-child.ts).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createCairnClient } from '@cairn/client';
import { engineNodeFlags } from '@cairn/engine';
import { resultKey } from '@cairn/protocol';
import { childNodeArgv } from './child-node.ts';
import { inTurns, percentile } from './in-turns.ts';
import { atLeast, atMostTimes, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';
import { startRunnerDaemon } from './runner-daemon.ts';
import type { RunnersServerReady, RunnersServerReport } from './runners-server-child.ts';
import { startRunnersServer, trueRun, type RunnersServer } from './runners-server.ts';
import { SimulatedRunner } from './simulated-runner.ts';

const oneRunnerItems = 200;
const oneRunnerSlots = 32;
const oneRunnerRounds = 2;

const ratio = (value: number, baseline: number) => Number((value / baseline).toFixed(2));
const median = (values: readonly number[]) => percentile(values, 0.5);

/** One run of `true` items through `executor`, timed from its submit; its attempts' times from their result records. */
interface TrueRunTimes {
  readonly startedPerSecond: number;
  readonly completedPerSecond: number;
  /** Mean attempts running over `slots`, from the first attempt's start to the last's. */
  readonly fullness: number;
}

async function trueRunTimes(server: RunnersServer, executor: string, count: number, slots: number): Promise<TrueRunTimes> {
  const client = createCairnClient({ baseUrl: server.base, token: server.operatorToken });
  const submittedAt = Date.now();
  const { runId } = await client.submit(trueRun(`${executor}-${count}`, count, executor));
  const run = await client.waitForRun(runId);
  const endedAt = Date.now();
  if (run.state !== 'succeeded' || run.itemsFinished !== count)
    throw new Error(`the ${executor} run ended ${run.state} with ${run.itemsFinished} of ${count} items`);
  // The worker's own times of each attempt: when it took it up (in the runner's process, or in the
  // local executor's supervisor) and when it wrote its result.
  const spans = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const bytes = await server.composition.storage.get(resultKey(`${runId}/item-${index}/1`));
      if (bytes === null) throw new Error(`no result record for ${runId}/item-${index}/1 (was an attempt lost?)`);
      const record = JSON.parse(new TextDecoder().decode(bytes)) as { startedAt: string; finishedAt: string };
      return { started: Date.parse(record.startedAt), finished: Date.parse(record.finishedAt) };
    }),
  );
  const firstStart = Math.min(...spans.map((span) => span.started));
  const lastStart = Math.max(...spans.map((span) => span.started));
  const busy = spans.reduce((sum, span) => sum + Math.max(0, Math.min(span.finished, lastStart) - Math.max(span.started, firstStart)), 0);
  return {
    startedPerSecond: count / ((lastStart - submittedAt) / 1000),
    completedPerSecond: count / ((endedAt - submittedAt) / 1000),
    fullness: busy / (slots * Math.max(1, lastStart - firstStart)),
  };
}

async function oneRunner({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log(
    `  ${oneRunnerItems} items of \`true\`, engine concurrency ${oneRunnerSlots}: one \`cairn runner\` with ${oneRunnerSlots} slots (bubblewrap), and the local executor, ${oneRunnerRounds} rounds in turn`,
  );
  const server = await startRunnersServer({ concurrency: oneRunnerSlots });
  const runner = await startRunnerDaemon(server, 'bench-runner', { slots: oneRunnerSlots, sandboxUids: 340_000 });
  try {
    // A first small run each way, unrecorded: the snapshot caches and the code paths warm.
    await trueRunTimes(server, 'runners', oneRunnerSlots, oneRunnerSlots);
    await trueRunTimes(server, 'local', oneRunnerSlots, oneRunnerSlots);
    const rounds: { runners: TrueRunTimes[]; local: TrueRunTimes[] } = { runners: [], local: [] };
    for (let round = 0; round < oneRunnerRounds; round++) {
      for (const executor of round % 2 === 0 ? (['runners', 'local'] as const) : (['local', 'runners'] as const)) {
        rounds[executor].push(await trueRunTimes(server, executor, oneRunnerItems, oneRunnerSlots));
      }
    }
    const show = (values: readonly TrueRunTimes[], key: keyof TrueRunTimes) => values.map((value) => value[key].toFixed(2)).join(', ');
    for (const executor of ['runners', 'local'] as const) {
      log(
        `    ${executor}: started ${show(rounds[executor], 'startedPerSecond')} /s; completed ${show(rounds[executor], 'completedPerSecond')} /s; slots full ${show(rounds[executor], 'fullness')}`,
      );
    }
    const of = (executor: 'runners' | 'local', key: keyof TrueRunTimes) => median(rounds[executor].map((value) => value[key]));
    const round1 = (value: number) => Number(value.toFixed(1));
    return [
      recorded(`runners.one-runner-${oneRunnerSlots}-slots.true-${oneRunnerItems}.started-per-s`, round1(of('runners', 'startedPerSecond')), 'attempts/s'),
      recorded(`runners.one-runner-${oneRunnerSlots}-slots.true-${oneRunnerItems}.completed-per-s`, round1(of('runners', 'completedPerSecond')), 'attempts/s'),
      recorded(`local.true-${oneRunnerItems}.started-per-s`, round1(of('local', 'startedPerSecond')), 'attempts/s'),
      recorded(`local.true-${oneRunnerItems}.completed-per-s`, round1(of('local', 'completedPerSecond')), 'attempts/s'),
      atLeast(
        `runners.one-runner-${oneRunnerSlots}-slots.started-over-local`,
        ratio(of('runners', 'startedPerSecond'), of('local', 'startedPerSecond')),
        'x',
        1,
      ),
      atLeast(`runners.one-runner-${oneRunnerSlots}-slots.slots-full`, ratio(of('runners', 'fullness'), 1), `of ${oneRunnerSlots}`, 0.9),
      recorded(`local.true-${oneRunnerItems}.concurrency-full`, ratio(of('local', 'fullness'), 1), `of ${oneRunnerSlots}`),
    ];
  } catch (error) {
    throw new Error(`${(error as Error).message}\nthe runner said:\n${runner.output()}`, { cause: error });
  } finally {
    await runner.stop();
    await server.close();
  }
}

const simulatedItems = 2_000;
const simulatedConcurrency = 100;
const simulatedRounds = 3;
/** Runners and the slots of each: one with all the engine's concurrency, 50 sharing it, 50 with 32 slots each (more than the engine lets run). */
const fleets = {
  'one-runner': { runners: 1, slots: 100 },
  'fifty-runners': { runners: 50, slots: 2 },
  'fifty-runners-32-slots': { runners: 50, slots: 32 },
} as const;
type Fleet = keyof typeof fleets;

interface FleetRound {
  readonly handedPerSecond: number;
  readonly completedPerSecond: number;
  readonly passP50Ms: number;
  readonly passP99Ms: number;
  readonly movedPerPass: number;
  readonly serverCpuMsPerItem: number;
  /** This process's (the simulated runners') CPU time an item: what they took from the server's two cores. */
  readonly runnersCpuMsPerItem: number;
  readonly leasesPerAnswer: number;
}

/** A server child (see runners-server-child.ts), the fleet's simulated runners polling it, and one run of `simulatedItems` on `runners`. */
async function fleetRound(fleet: Fleet): Promise<FleetRound> {
  const { runners: count, slots } = fleets[fleet];
  const [node, ...argv] = childNodeArgv([...engineNodeFlags, '--conditions=@cairn/source'], 'runners-server-child.ts', [
    String(count),
    String(simulatedConcurrency),
  ]);
  const child = spawn(node!, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const line = await lines.next();
    if (line.done) throw new Error(`the server child ended (exit ${await exited})`);
    return line.value;
  };
  const runners: SimulatedRunner[] = [];
  try {
    const ready = JSON.parse(await nextLine()) as RunnersServerReady;
    runners.push(...ready.tokens.map((token) => new SimulatedRunner(ready.base, token, slots)));
    const polling = Promise.all(runners.map((runner) => runner.start()));
    // Every runner waiting in a poll before the run is submitted.
    await new Promise((resolve) => setTimeout(resolve, 500));
    child.stdin.write('start\n');
    await nextLine();
    const client = createCairnClient({ baseUrl: ready.base, token: ready.operatorToken });
    const cpu = process.cpuUsage();
    const submittedAt = performance.now();
    const { runId } = await client.submit(trueRun(`simulated-${fleet}`, simulatedItems, 'runners'));
    const run = await Promise.race([client.waitForRun(runId), polling.then(() => undefined)]);
    const endedAt = performance.now();
    const used = process.cpuUsage(cpu);
    if (run?.state !== 'succeeded' || run.itemsFinished !== simulatedItems)
      throw new Error(`the ${fleet} run ended ${run?.state} with ${run?.itemsFinished} of ${simulatedItems} items`);
    child.stdin.write('report\n');
    const report = JSON.parse(await nextLine()) as RunnersServerReport;
    const leasedAt = runners.flatMap((runner) => runner.leasedAt);
    if (leasedAt.length !== simulatedItems) throw new Error(`${leasedAt.length} leases handed out for ${simulatedItems} items`);
    if (report.passes.length === 0) throw new Error('no dispatch pass was timed: did the child load the engine from its source?');
    const passMs = report.passes.map((pass) => pass.ms);
    return {
      handedPerSecond: simulatedItems / ((Math.max(...leasedAt) - submittedAt) / 1000),
      completedPerSecond: simulatedItems / ((endedAt - submittedAt) / 1000),
      passP50Ms: percentile(passMs, 0.5),
      passP99Ms: percentile(passMs, 0.99),
      movedPerPass: simulatedItems / report.passes.length,
      serverCpuMsPerItem: report.cpuMs / simulatedItems,
      runnersCpuMsPerItem: (used.user + used.system) / 1000 / simulatedItems,
      leasesPerAnswer: simulatedItems / runners.reduce((sum, runner) => sum + runner.answered, 0),
    };
  } finally {
    await Promise.all(runners.map((runner) => runner.stop().catch(() => {})));
    child.stdin.end();
    await exited;
  }
}

async function simulatedFleets({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log(
    `  ${simulatedItems.toLocaleString('en-US')} items on \`runners\`, engine concurrency ${simulatedConcurrency}, the server in a process of its own; simulated runners over HTTP from this process (${Object.entries(
      fleets,
    )
      .map(([name, fleet]) => `${name}: ${fleet.runners} × ${fleet.slots} slots`)
      .join('; ')}), ${simulatedRounds} rounds in turn`,
  );
  const rounds = await inTurns(simulatedRounds, {
    'one-runner': () => fleetRound('one-runner'),
    'fifty-runners': () => fleetRound('fifty-runners'),
    'fifty-runners-32-slots': () => fleetRound('fifty-runners-32-slots'),
  });
  const of = (fleet: Fleet, key: keyof FleetRound) => median(rounds[fleet].map((round) => round[key]));
  for (const fleet of Object.keys(fleets) as Fleet[]) {
    const show = (key: keyof FleetRound) => rounds[fleet].map((round) => round[key].toFixed(key.endsWith('Second') ? 0 : 2)).join(', ');
    log(
      `    ${fleet}: handed out ${show('handedPerSecond')} /s; completed ${show('completedPerSecond')} /s; pass p50 ${show('passP50Ms')} ms, p99 ${show('passP99Ms')} ms; ${show('movedPerPass')} items a pass; CPU an item: server ${show('serverCpuMsPerItem')} ms, the simulated runners ${show('runnersCpuMsPerItem')} ms; ${show('leasesPerAnswer')} leases a poll answered with any`,
    );
  }
  const round2 = (value: number) => Number(value.toFixed(2));
  const rows: BenchmarkRow[] = [];
  const one = {
    handed: recorded(`runners.simulated.one-runner.handed-per-s`, Math.round(of('one-runner', 'handedPerSecond')), 'attempts/s'),
    p50: recorded(`runners.simulated.one-runner.pass-p50-ms`, round2(of('one-runner', 'passP50Ms')), 'ms'),
    p99: recorded(`runners.simulated.one-runner.pass-p99-ms`, round2(of('one-runner', 'passP99Ms')), 'ms'),
  };
  rows.push(
    one.handed,
    recorded(`runners.simulated.one-runner.completed-per-s`, Math.round(of('one-runner', 'completedPerSecond')), 'items/s'),
    one.p50,
    one.p99,
    recorded(`runners.simulated.one-runner.items-per-pass`, round2(of('one-runner', 'movedPerPass')), 'items'),
    recorded(`runners.simulated.one-runner.server-cpu-per-item-ms`, round2(of('one-runner', 'serverCpuMsPerItem')), 'ms'),
  );
  for (const fleet of ['fifty-runners', 'fifty-runners-32-slots'] as const) {
    const handed = of(fleet, 'handedPerSecond');
    rows.push(
      recorded(`runners.simulated.${fleet}.handed-per-s`, Math.round(handed), 'attempts/s'),
      atLeast(`runners.simulated.${fleet}.handed-over-one`, ratio(handed, of('one-runner', 'handedPerSecond')), 'x', 0.8),
      recorded(`runners.simulated.${fleet}.completed-per-s`, Math.round(of(fleet, 'completedPerSecond')), 'items/s'),
      atMostTimes(`runners.simulated.${fleet}.pass-p50-ms`, round2(of(fleet, 'passP50Ms')), 'ms', one.p50, 1.5),
      atMostTimes(`runners.simulated.${fleet}.pass-p99-ms`, round2(of(fleet, 'passP99Ms')), 'ms', one.p99, 1.5),
      recorded(`runners.simulated.${fleet}.items-per-pass`, round2(of(fleet, 'movedPerPass')), 'items'),
      recorded(`runners.simulated.${fleet}.server-cpu-per-item-ms`, round2(of(fleet, 'serverCpuMsPerItem')), 'ms'),
    );
  }
  return rows;
}

export default async function runnersBenchmarks(context: BenchmarkContext): Promise<BenchmarkRow[]> {
  return [...(await simulatedFleets(context)), ...(await oneRunner(context))];
}
