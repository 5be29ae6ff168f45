// The engine end to end with an executor that completes at once (and pushes its exits), audit
// on: a 10,000-item fan-out at concurrency 50 beside its peer, BullMQ on a redis-server of the
// bench's own running the same 10,000 no-op jobs at concurrency 50 (issue 16: the ratio prints in
// every run, and the CPU of each, BullMQ's counted in its worker's process and in redis-server),
// and the same fan-out on the PostgreSQL backend (a durable cluster of the bench's own, with its
// commits counted); a 1,000-item chain with the latency of each hop (a dependency's exit to its
// dependent's start); and, counted rather than timed, the SQL statements, transactions and
// fsyncs the fan-out costs per item. The chain runs three rounds, each measure its median: a first
// chain in a process compiles the paths only chains take (its p50 ~10 % above the next ones').
import { engineNodeFlags } from '@cairn/engine';
import { openEngineDatabase } from '@cairn/engine/internals';
import { bullmqFanout, type BullmqFanoutResult } from './bullmq-fanout.ts';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import { fanoutConcurrency, fanoutItems, independentItems, runEngineItems } from './engine-fanout.ts';
import { countFsyncs } from './fsync-counter.ts';
import { atMost, atMostTimes, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';
import { startRedisServer } from './redis-server.ts';
import { runPostgresEngineItems, type CommitCounts } from './postgres-engine-fanout.ts';
import { startPostgresServer } from './postgres-server.ts';
import { countStatements } from './statement-counter.ts';

/** Rounds of the fan-out, the engine and BullMQ in turn: the median of each is its row. */
const fanoutRounds = 3;

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/**
 * The engine on SQLite, BullMQ, and the engine on PostgreSQL, the same 10,000 no-op items at
 * concurrency 50, in turns: a busy neighbour on this shared machine weighs on all alike, so their
 * ratios mean something where any number alone does not.
 */
async function fanoutAgainstBullmq({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log(
    `  ${fanoutItems.toLocaleString('en-US')} independent items at concurrency ${fanoutConcurrency}: the engine on SQLite, BullMQ (redis-server, no persistence) and the engine on PostgreSQL (fsync and synchronous_commit on), ${fanoutRounds} rounds in turn`,
  );
  const redis = await startRedisServer();
  const postgres = await startPostgresServer().catch(async (error: unknown) => {
    await redis.stop();
    throw error;
  });
  const engineRounds: { wall: number; cpu: number }[] = [];
  const bullmqRounds: BullmqFanoutResult[] = [];
  const postgresRounds: { wall: number; counts: CommitCounts; endedBeforeReadable: boolean }[] = [];
  try {
    for (let round = 0; round < fanoutRounds; round++) {
      engineRounds.push(await runEngineItems(independentItems(fanoutItems), fanoutConcurrency));
      bullmqRounds.push(await bullmqFanout(redis, fanoutItems, fanoutConcurrency));
      postgresRounds.push(await runPostgresEngineItems(postgres, independentItems(fanoutItems), fanoutConcurrency));
    }
  } finally {
    await redis.stop();
    await postgres.stop();
  }
  const engineWalls = engineRounds.map((round) => round.wall);
  const bullmqWalls = bullmqRounds.map((round) => round.wallMs);
  const engineMs = percentile(engineWalls, 0.5);
  const bullmqMs = percentile(bullmqWalls, 0.5);
  // CPU beside the wall: the engine's work is on one core, BullMQ's on two (its worker's process
  // and redis-server, where its Lua scripts run), so the wall ratio alone does not say whether the
  // engine does more work or only less of it at once.
  const engineCpus = engineRounds.map((round) => round.cpu);
  const bullmqCpus = bullmqRounds.map((round) => round.clientCpuMs + round.redisCpuMs);
  const engineCpuMs = percentile(engineCpus, 0.5);
  const bullmqCpuMs = percentile(bullmqCpus, 0.5);
  // The median round by wall time, whose commits are counted beside it.
  const postgresRound = [...postgresRounds].sort((a, b) => a.wall - b.wall)[Math.floor(postgresRounds.length / 2)]!;
  const { commits, rows, committingMs } = postgresRound.counts;
  log(
    `    engine ${engineWalls.map(Math.round).join(', ')} ms; BullMQ ${bullmqWalls.map(Math.round).join(', ')} ms; engine on PostgreSQL ${postgresRounds.map((run) => Math.round(run.wall)).join(', ')} ms`,
  );
  log(
    `    CPU: engine ${engineRounds.map((round) => Math.round(round.cpu)).join(', ')} ms; BullMQ ${bullmqRounds.map((round) => `${Math.round(round.clientCpuMs)} + ${Math.round(round.redisCpuMs)} (redis-server)`).join(', ')} ms`,
  );
  log(`    PostgreSQL median round: ${commits} commits, ${rows} rows, ${Math.round(committingMs)} ms inside writer.commit`);
  const early = postgresRounds.filter((run) => run.endedBeforeReadable).length;
  if (early > 0) log(`    in ${early} PostgreSQL round(s) the engine told its run waiter before a reader saw the run's end (timed until it did)`);
  const bullmqRow = recorded('bullmq.fanout-10000.wall-ms', Math.round(bullmqMs), 'ms');
  const engineRow = atMostTimes('engine.fanout-10000.wall-ms', Math.round(engineMs), 'ms', bullmqRow, 1.0);
  return [
    bullmqRow,
    recorded('bullmq.fanout-10000.items-per-s', Math.round(fanoutItems / (bullmqMs / 1000)), 'items/s'),
    engineRow,
    recorded('engine.fanout-10000.items-per-s', Math.round(fanoutItems / (engineMs / 1000)), 'items/s'),
    recorded('engine.fanout-10000.over-bullmq', Number((engineMs / bullmqMs).toFixed(2)), 'x'),
    recorded('bullmq.fanout-10000.cpu-ms', Math.round(bullmqCpuMs), 'ms'),
    recorded('engine.fanout-10000.cpu-ms', Math.round(engineCpuMs), 'ms'),
    recorded('engine.fanout-10000.cpu-over-bullmq', Number((engineCpuMs / bullmqCpuMs).toFixed(2)), 'x'),
    // Issue 16's goal: the PostgreSQL backend at most twice the SQLite backend in the same run.
    atMostTimes('engine.postgres.fanout-10000.wall-ms', Math.round(postgresRound.wall), 'ms', engineRow, 2),
    recorded('engine.postgres.fanout-10000.over-sqlite', Number((postgresRound.wall / engineMs).toFixed(2)), 'x'),
    recorded('engine.postgres.fanout-10000.commits-per-item', Number((commits / fanoutItems).toFixed(4)), 'commits'),
    recorded('engine.postgres.fanout-10000.rows-per-commit', Number((rows / Math.max(1, commits)).toFixed(1)), 'rows'),
    recorded('engine.postgres.fanout-10000.committing-share', Number((committingMs / postgresRound.wall).toFixed(2)), 'of wall'),
  ];
}

/** Rounds of the chain: the median of each measure is its row (the first runs paths a fan-out never does cold). */
const chainRounds = 3;

async function chain({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log(`  a 1,000-item chain, ${chainRounds} rounds`);
  const walls: number[] = [];
  const p50s: number[] = [];
  const p99s: number[] = [];
  const steps = Array.from({ length: 1_000 }, (_, index) => ({ id: `step-${index}`, ...(index ? { dependsOn: [`step-${index - 1}`] } : {}) }));
  for (let round = 0; round < chainRounds; round++) {
    const run = await runEngineItems(steps, 16);
    const hops = Array.from({ length: 999 }, (_, index) => {
      const exited = run.executor.exitedAt.get(`${run.runId}/step-${index}/1`)!;
      const next = run.executor.startedAt.get(`${run.runId}/step-${index + 1}/1`)!;
      return next - exited;
    });
    walls.push(run.wall);
    p50s.push(percentile(hops, 0.5));
    p99s.push(percentile(hops, 0.99));
  }
  log(`    hop p50 ${p50s.map((value) => value.toFixed(2)).join(', ')} ms; p99 ${p99s.map((value) => value.toFixed(2)).join(', ')} ms`);
  return [
    atMost('engine.chain-1000.wall-ms', Math.round(percentile(walls, 0.5)), 'ms', 1_000),
    atMost('engine.chain-1000.hop-p50-ms', Number(percentile(p50s, 0.5).toFixed(2)), 'ms', 0.35),
    atMost('engine.chain-1000.hop-p99-ms', Number(percentile(p99s, 0.5).toFixed(2)), 'ms', 2),
  ];
}

/**
 * What the fan-out costs per item, counted: SQL statements and transactions through a counting
 * wrapper of the database handle the engine is given (an extra, untimed run), and fsync/fdatasync
 * calls of a process of its own running the same fan-out under strace (start and close included).
 */
async function counted({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log('  the fan-out again, counting its SQL statements, transactions and fsyncs');
  let counts = { statements: 0, transactions: 0 };
  await runEngineItems(independentItems(fanoutItems), fanoutConcurrency, (path) => {
    const wrapped = countStatements(openEngineDatabase(path));
    counts = wrapped.counts;
    return wrapped.database;
  });
  const { fsyncs, stdout } = countFsyncs(childNodeArgv(engineNodeFlags, 'engine-items-child.ts', [String(fanoutItems), String(fanoutConcurrency)]));
  // The child's report proves its run succeeded (it throws otherwise, failing this benchmark).
  lastJsonLine(stdout);
  return [
    recorded('engine.fanout-10000.statements-per-item', Number((counts.statements / fanoutItems).toFixed(2)), 'statements'),
    recorded('engine.fanout-10000.transactions-per-item', Number((counts.transactions / fanoutItems).toFixed(2)), 'transactions'),
    recorded('engine.fanout-10000.fsyncs-per-item', Number((fsyncs / fanoutItems).toFixed(4)), 'fsyncs'),
  ];
}

export default async function engineBenchmarks(context: BenchmarkContext): Promise<BenchmarkRow[]> {
  return [...(await fanoutAgainstBullmq(context)), ...(await chain(context)), ...(await counted(context))];
}
