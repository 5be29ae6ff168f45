// The engine service of a replica in PostgreSQL mode answers as the engine in its own process does
// (the same suite as `engine.service()`), whether this replica leads or another one does.
import { setTimeout as sleep } from 'node:timers/promises';
import { createInMemoryCipher, createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { afterAll } from 'vitest';
import { describeEngineService } from '../../engine-service.test-support.ts';
import { harnessTask } from '../../engine.test-support.ts';
import { createPostgresEngineLeader, type PostgresEngineLeader } from './postgres-engine-leader.ts';
import { createPostgresEngineService, type PostgresEngineService } from './postgres-engine-service.ts';
import { createPostgresStateStore } from './postgres-state-store.ts';
import { createTestDatabase, type TestDatabase } from './postgres.test-support.ts';

const opened: { database: TestDatabase; leaders: PostgresEngineLeader[]; services: PostgresEngineService[] }[] = [];
afterAll(async () => {
  for (const { database, leaders, services } of opened) {
    for (const service of services) await service.close();
    for (const leader of leaders) await leader.stop();
    await database.drop();
  }
});

/**
 * A deployment of two replicas on a fresh database, A running the engine and B not: the service
 * under test is B's when `through` is 'follower' (every command crosses engine_commands), A's otherwise.
 */
async function deployment(through: 'leader' | 'follower') {
  const database = await createTestDatabase();
  const storage = createInMemoryStorageProvider();
  const signer = createInMemorySigner();
  const cipher = createInMemoryCipher();
  const executor = createInMemoryExecutor({ run: harnessTask(storage, new Map(), new Map()) });
  const replica = (instanceId: string) => {
    const store = createPostgresStateStore(database.settings);
    const leader = createPostgresEngineLeader({
      store,
      instanceId,
      engine: { executors: { local: executor }, storage, signer, cipher, reconcileIntervalMs: 20, inboxPollMs: false },
    });
    return { leader, service: createPostgresEngineService({ state: database.settings, store, leader, cipher }) };
  };
  const a = replica('replica-a');
  a.leader.start();
  while (!a.leader.engine) await sleep(10);
  const b = replica('replica-b');
  b.leader.start();
  opened.push({ database, leaders: [b.leader, a.leader], services: [a.service, b.service] });
  return { service: through === 'leader' ? a.service : b.service };
}

describeEngineService('PostgreSQL, the replica that runs the engine', () => deployment('leader'));
describeEngineService('PostgreSQL, a replica that does not run the engine', () => deployment('follower'));
