import { startPostgresServer, type PostgresServer } from './postgres-server.ts';
import { startRedisServer, type RedisServer } from './redis-server.ts';

/** The servers the fan-out's peers run on, each the bench's own; `stop` ends them all. */
export interface PeerServers {
  /** No persistence: BullMQ's informational row, the cheapest way to run a job. */
  readonly redis: RedisServer;
  /** `appendfsync always`: BullMQ's durable row. */
  readonly durableRedis: RedisServer;
  /** fsync and synchronous_commit on: the engine's PostgreSQL backend, graphile-worker and DBOS. */
  readonly postgres: PostgresServer;
  stop(): Promise<void>;
}

/** Starts the peers' servers, runs `body` on them, and stops them however `body` ended. */
export async function withPeerServers<Result>(body: (servers: PeerServers) => Promise<Result>): Promise<Result> {
  const servers = await startPeerServers();
  try {
    return await body(servers);
  } finally {
    await servers.stop();
  }
}

/** Starts the peers' servers; should one fail to start, those already started are stopped. */
async function startPeerServers(): Promise<PeerServers> {
  const started: { stop(): Promise<void> }[] = [];
  const stop = async () => {
    const errors: unknown[] = [];
    for (const server of started.reverse()) await server.stop().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw new AggregateError(errors, "the bench's peer servers did not all stop");
  };
  const keep = <Server extends { stop(): Promise<void> }>(server: Server): Server => (started.push(server), server);
  try {
    const redis = keep(await startRedisServer('none'));
    const durableRedis = keep(await startRedisServer('fsync-every-write'));
    const postgres = keep(await startPostgresServer());
    return { redis, durableRedis, postgres, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
