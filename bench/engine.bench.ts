// The engine end to end with an executor that completes at once (and pushes its exits), audit
// on. A 10,000-item no-op fan-out at concurrency 50, in turns with peers running the same 10,000
// no-op jobs at concurrency 50 (Restate: as many as its server runs) on servers of the bench's
// own: peers that keep the engine's promise (a job acknowledged is on disk: BullMQ on a
// redis-server that fsyncs every write, graphile-worker and DBOS on a PostgreSQL with fsync on,
// Restate on a restate-server whose log is fsynced as shipped), which the engine's wall is held to
// (ADR 0030); BullMQ on a redis-server that keeps nothing, the cheapest way to run a job, which
// the engine's CPU is held to; and the engine's own PostgreSQL backend. Then a 1,000-item chain
// with the latency of each hop (a dependency's exit to its dependent's start), in turns with the
// same chain on BullMQ (each job's completion adds the next; the engine's rows held to those of
// BullMQ with appendfsync always), and, counted rather than timed, the SQL statements,
// transactions and fsyncs the fan-out costs per item. Every
// measure is the median of three rounds: a first chain in a process compiles the paths only
// chains take (its p50 ~10 % above the next ones').
import { engineNodeFlags } from '@cairn/engine';
import { openEngineDatabase } from '@cairn/engine/internals';
import { bullmqChain, bullmqDurableChain } from './bullmq-chain.ts';
import { bullmqDurableFanout } from './bullmq-durable-fanout.ts';
import { bullmqFanout } from './bullmq-fanout.ts';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import { dbosFanout } from './dbos-fanout.ts';
import { fanoutConcurrency, fanoutItems, independentItems, runEngineItems } from './engine-fanout.ts';
import { countFsyncs } from '@cairn/conformance/faults';
import { ensureDebianProgram } from './debian-program.ts';
import { graphileWorkerFanout } from './graphile-worker-fanout.ts';
import { inTurns, medianRound, percentile } from './in-turns.ts';
import { atMost, atMostTimes, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';
import { withPeerServers } from './peer-servers.ts';
import { runPostgresEngineItems } from './postgres-engine-fanout.ts';
import { startRedisServer } from './redis-server.ts';
import { restateFanout } from './restate-fanout.ts';
import { startRestatePeer, type RestatePeer } from './restate-server.ts';
import { countStatements } from './statement-counter.ts';

/** Rounds of the fan-out, the engine and its peers in turn: the median of each is its row. */
const fanoutRounds = 3;

const median = (values: readonly number[]) => percentile(values, 0.5);
const ratio = (value: number, baseline: number) => Number((value / baseline).toFixed(2));
const milliseconds = (values: readonly number[]) => values.map(Math.round).join(', ');

async function fanoutAgainstPeers({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log(
    `  ${fanoutItems.toLocaleString('en-US')} independent items at concurrency ${fanoutConcurrency}, ${fanoutRounds} rounds in turn: the engine on SQLite; BullMQ without persistence; the durable peers (BullMQ on redis with appendfsync always, graphile-worker and DBOS on PostgreSQL with fsync and synchronous_commit on, Restate on its restate-server with its log fsynced as shipped); the engine on that PostgreSQL`,
  );
  const items = independentItems(fanoutItems);
  const rounds = await withPeerServers((servers) =>
    withRestatePeer((restate) =>
      inTurns(fanoutRounds, {
        engine: () => runEngineItems(items, fanoutConcurrency),
        bullmq: () => bullmqFanout(servers.redis, fanoutItems, fanoutConcurrency),
        'bullmq-appendfsync-always': () => bullmqDurableFanout(servers.durableRedis, fanoutItems, fanoutConcurrency),
        'graphile-worker': () => graphileWorkerFanout(servers.postgres, fanoutItems, fanoutConcurrency),
        dbos: () => dbosFanout(servers.postgres, fanoutItems, fanoutConcurrency),
        restate: () => restateFanout(restate, fanoutItems),
        enginePostgres: () => runPostgresEngineItems(servers.postgres, items, fanoutConcurrency),
      }),
    ),
  );

  const engineMs = median(rounds.engine.map((round) => round.wall));
  const bullmqMs = median(rounds.bullmq.map((round) => round.wallMs));
  log(
    `    engine ${milliseconds(rounds.engine.map((round) => round.wall))} ms; BullMQ without persistence ${milliseconds(rounds.bullmq.map((round) => round.wallMs))} ms`,
  );
  // The durable peers, each held to the same line: the engine's wall at most theirs.
  const durablePeers = (['bullmq-appendfsync-always', 'graphile-worker', 'dbos'] as const).flatMap((peer) => {
    const walls = rounds[peer].map((round) => round.wallMs);
    log(`    ${peer} ${milliseconds(walls)} ms`);
    return [
      recorded(`${peer}.fanout-10000.wall-ms`, Math.round(median(walls)), 'ms'),
      atMost(`engine.fanout-10000.over-${peer}`, ratio(engineMs, median(walls)), 'x', 1.0),
    ];
  });
  // CPU beside the wall: the engine's work is on one core, BullMQ's on two (its worker's process
  // and redis-server, where its Lua scripts run), so the wall ratio alone does not say whether the
  // engine does more work or only less of it at once. Both are per the same 10,000 items.
  const engineCpuMs = median(rounds.engine.map((round) => round.cpu));
  // Restate's CPU is its server's and its service deployment's (one cgroup), the work it does on
  // both cores for the same 10,000 items.
  const restateWalls = rounds.restate.map((round) => round.wallMs);
  const restateCpus = rounds.restate.map((round) => round.cpuMs);
  log(`    restate ${milliseconds(restateWalls)} ms; CPU (restate-server + service) ${milliseconds(restateCpus)} ms`);
  const restateRows = [
    recorded('restate.fanout-10000.wall-ms', Math.round(median(restateWalls)), 'ms'),
    recorded('restate.fanout-10000.cpu-ms', Math.round(median(restateCpus)), 'ms'),
    atMost('engine.fanout-10000.over-restate', ratio(engineMs, median(restateWalls)), 'x', 1.0),
    recorded('engine.fanout-10000.cpu-over-restate', ratio(engineCpuMs, median(restateCpus)), 'x'),
  ];
  const bullmqCpuMs = median(rounds.bullmq.map((round) => round.clientCpuMs + round.redisCpuMs));
  log(
    `    CPU: engine ${milliseconds(rounds.engine.map((round) => round.cpu))} ms; BullMQ ${rounds.bullmq.map((round) => `${Math.round(round.clientCpuMs)} + ${Math.round(round.redisCpuMs)} (redis-server)`).join(', ')} ms`,
  );
  const postgres = medianRound(rounds.enginePostgres, (round) => round.wall);
  const { commits, rows, committingMs } = postgres.counts;
  log(
    `    engine on PostgreSQL ${milliseconds(rounds.enginePostgres.map((round) => round.wall))} ms; median round: ${commits} commits, ${rows} rows, ${Math.round(committingMs)} ms inside writer.commit, ${postgres.walSyncs} WAL fsyncs`,
  );
  const early = rounds.enginePostgres.filter((round) => round.endedBeforeReadable).length;
  if (early > 0) log(`    in ${early} PostgreSQL round(s) the engine told its run waiter before a reader saw the run's end (timed until it did)`);
  const engineRow = recorded('engine.fanout-10000.wall-ms', Math.round(engineMs), 'ms');
  return [
    recorded('bullmq.fanout-10000.wall-ms', Math.round(bullmqMs), 'ms'),
    recorded('bullmq.fanout-10000.items-per-s', Math.round(fanoutItems / (bullmqMs / 1000)), 'items/s'),
    engineRow,
    recorded('engine.fanout-10000.items-per-s', Math.round(fanoutItems / (engineMs / 1000)), 'items/s'),
    recorded('engine.fanout-10000.over-bullmq', ratio(engineMs, bullmqMs), 'x'),
    ...durablePeers,
    ...restateRows,
    recorded('bullmq.fanout-10000.cpu-ms', Math.round(bullmqCpuMs), 'ms'),
    recorded('engine.fanout-10000.cpu-ms', Math.round(engineCpuMs), 'ms'),
    atMost('engine.fanout-10000.cpu-over-bullmq', ratio(engineCpuMs, bullmqCpuMs), 'x', 1.0),
    atMostTimes('engine.postgres.fanout-10000.wall-ms', Math.round(postgres.wall), 'ms', engineRow, 2),
    recorded('engine.postgres.fanout-10000.over-sqlite', ratio(postgres.wall, engineMs), 'x'),
    recorded('engine.postgres.fanout-10000.commits-per-item', Number((commits / fanoutItems).toFixed(4)), 'commits'),
    recorded('engine.postgres.fanout-10000.rows-per-commit', Number((rows / Math.max(1, commits)).toFixed(1)), 'rows'),
    recorded('engine.postgres.fanout-10000.committing-share', ratio(committingMs, postgres.wall), 'of wall'),
    recorded('engine.postgres.fanout-10000.wal-fsyncs-per-item', Number((postgres.walSyncs / fanoutItems).toFixed(4)), 'fsyncs (pg_stat_wal.wal_sync)'),
  ];
}

/** Starts the Restate peer (its server and service deployment), runs `body` on it, and stops it however `body` ended. */
async function withRestatePeer<Result>(body: (peer: RestatePeer) => Promise<Result>): Promise<Result> {
  const peer = await startRestatePeer();
  try {
    return await body(peer);
  } finally {
    await peer.stop();
  }
}

/** Rounds of the chain: the median of each measure is its row (the first runs paths a fan-out never does cold). */
const chainRounds = 3;
const chainLength = 1_000;
const chainConcurrency = 16;

/** A chain's wall and hops, each hop a dependency's exit to its dependent's start. */
interface ChainRound {
  readonly wall: number;
  readonly hops: readonly number[];
}

async function engineChain(): Promise<ChainRound> {
  const steps = Array.from({ length: chainLength }, (_, index) => ({ id: `step-${index}`, ...(index ? { dependsOn: [`step-${index - 1}`] } : {}) }));
  const run = await runEngineItems(steps, chainConcurrency);
  const hops = Array.from({ length: chainLength - 1 }, (_, index) => {
    const exited = run.executor.exitedAt.get(`${run.runId}/step-${index}/1`)!;
    const next = run.executor.startedAt.get(`${run.runId}/step-${index + 1}/1`)!;
    return next - exited;
  });
  return { wall: run.wall, hops };
}

/**
 * The chain on the engine and, in turns with it, the same chain on BullMQ (each job's completion
 * adds the next): with `appendfsync always`, the peer that keeps the engine's promise and whose
 * rows the engine's are held to, and without persistence, recorded beside them.
 */
async function chain({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log(
    `  a ${chainLength.toLocaleString('en-US')}-item chain, ${chainRounds} rounds in turn: the engine on SQLite; BullMQ with appendfsync always; BullMQ without persistence`,
  );
  const plain = await startRedisServer('none');
  try {
    const durable = await startRedisServer('fsync-every-write');
    try {
      const rounds = await inTurns(chainRounds, {
        engine: engineChain,
        'bullmq-appendfsync-always': async () => {
          const { wallMs, hopsMs } = await bullmqDurableChain(durable, chainLength, chainConcurrency);
          return { wall: wallMs, hops: hopsMs };
        },
        bullmq: async () => {
          const { wallMs, hopsMs } = await bullmqChain(plain, chainLength, chainConcurrency);
          return { wall: wallMs, hops: hopsMs };
        },
      });
      const rows = (contender: keyof typeof rounds) => {
        const each = rounds[contender];
        const p50s = each.map((round) => percentile(round.hops, 0.5));
        const p99s = each.map((round) => percentile(round.hops, 0.99));
        log(
          `    ${contender} ${milliseconds(each.map((round) => round.wall))} ms; hop p50 ${p50s.map((value) => value.toFixed(2)).join(', ')} ms; p99 ${p99s.map((value) => value.toFixed(2)).join(', ')} ms`,
        );
        return {
          wall: Math.round(median(each.map((round) => round.wall))),
          p50: Number(median(p50s).toFixed(2)),
          p99: Number(median(p99s).toFixed(2)),
        };
      };
      const engine = rows('engine');
      const always = rows('bullmq-appendfsync-always');
      const none = rows('bullmq');
      const alwaysWall = recorded('bullmq-appendfsync-always.chain-1000.wall-ms', always.wall, 'ms');
      const alwaysP50 = recorded('bullmq-appendfsync-always.chain-1000.hop-p50-ms', always.p50, 'ms');
      const alwaysP99 = recorded('bullmq-appendfsync-always.chain-1000.hop-p99-ms', always.p99, 'ms');
      return [
        alwaysWall,
        alwaysP50,
        alwaysP99,
        recorded('bullmq.chain-1000.wall-ms', none.wall, 'ms'),
        recorded('bullmq.chain-1000.hop-p50-ms', none.p50, 'ms'),
        recorded('bullmq.chain-1000.hop-p99-ms', none.p99, 'ms'),
        atMostTimes('engine.chain-1000.wall-ms', engine.wall, 'ms', alwaysWall, 1),
        atMostTimes('engine.chain-1000.hop-p50-ms', engine.p50, 'ms', alwaysP50, 1),
        atMostTimes('engine.chain-1000.hop-p99-ms', engine.p99, 'ms', alwaysP99, 1),
      ];
    } finally {
      await durable.stop();
    }
  } finally {
    await plain.stop();
  }
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
  const { fsyncs, stdout } = countFsyncs(childNodeArgv(engineNodeFlags, 'engine-items-child.ts', [String(fanoutItems), String(fanoutConcurrency)]), {
    strace: ensureDebianProgram('strace', 'strace'),
  });
  // The child's report proves its run succeeded (it throws otherwise, failing this benchmark).
  lastJsonLine(stdout);
  return [
    recorded('engine.fanout-10000.statements-per-item', Number((counts.statements / fanoutItems).toFixed(2)), 'statements'),
    recorded('engine.fanout-10000.transactions-per-item', Number((counts.transactions / fanoutItems).toFixed(2)), 'transactions'),
    recorded('engine.fanout-10000.fsyncs-per-item', Number((fsyncs / fanoutItems).toFixed(4)), 'fsyncs (strace)'),
  ];
}

export default async function engineBenchmarks(context: BenchmarkContext): Promise<BenchmarkRow[]> {
  return [...(await fanoutAgainstPeers(context)), ...(await chain(context)), ...(await counted(context))];
}
