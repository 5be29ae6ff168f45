// How the crash tests run an incarnation of the engine (crash-child.test-support.ts) and check what
// it left: a child process killed at its kill point, or by the parent after a delay; its database,
// or on PostgreSQL the store loaded into memory, checked (crash-checks.test-support.ts).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';
import type { PublicKeyRecord } from '@cairn/core';
import { openEngineDatabase } from '../store/sqlite/open-engine-database.ts';
import { createPostgresStateStore } from '../store/postgres/postgres-state-store.ts';
import type { TestDatabase } from '../store/postgres/postgres.test-support.ts';
import { inspectCrashDatabase, inspectCrashDirectory, type CrashInspection } from './crash-checks.test-support.ts';
import { formatKillPoint, type CrashRunName, type KillPoint } from './crash-plan.test-support.ts';

const child = fileURLToPath(new URL('./crash-child.test-support.ts', import.meta.url));

/** How the parent kills a lingering child: after a delay from spawn, or from its engine's start. */
export interface Linger {
  readonly after: 'spawn' | 'started';
  readonly delayMs: number;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly killedByParent: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** When it printed `started` (its engine started), from spawn. */
  readonly startedAfterMs: number | undefined;
}

export interface ChildSettings {
  /** The engine's directory; its parent holds the compile cache the children share. */
  readonly directory: string;
  /** The PostgreSQL store the engine keeps its state in; SQLite (<directory>/engine.db) without. */
  readonly store: TestDatabase | undefined;
  readonly seed: number;
  readonly point: KillPoint;
  readonly linger?: Linger;
  /** The run the child submits: the seeded one unless told. */
  readonly run?: CrashRunName;
}

export function runChild({ directory, store, seed, point, linger, run = 'seeded' }: ChildSettings): Promise<ChildExit> {
  const started = performance.now();
  // Children share a compile cache: their startup is most of what an incarnation costs.
  const environment = {
    ...process.env,
    NODE_COMPILE_CACHE: join(directory, '..', 'compile-cache'),
    ...(store ? { CAIRN_CRASH_POSTGRES: JSON.stringify(store.settings) } : {}),
  };
  const childProcess = spawn(process.execPath, ['--conditions=@cairn/source', child, directory, String(seed), formatKillPoint(point), run], {
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let killedByParent = false;
  const kill = () => {
    killedByParent = childProcess.kill('SIGKILL');
  };
  let timer: NodeJS.Timeout | undefined;
  let startedAfterMs: number | undefined;
  if (linger?.after === 'spawn') timer = setTimeout(kill, linger.delayMs);
  childProcess.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    if (startedAfterMs === undefined && stdout.includes('started ')) {
      startedAfterMs = Math.round(performance.now() - started);
      if (linger?.after === 'started') timer = setTimeout(kill, linger.delayMs);
    }
  });
  childProcess.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  // A child that hangs is a failure, not a stuck CI job.
  const guard = setTimeout(() => childProcess.kill('SIGTERM'), 30_000);
  return new Promise((resolve) => {
    childProcess.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      resolve({ code, signal, killedByParent, stdout, stderr, ms: Math.round(performance.now() - started), startedAfterMs });
    });
  });
}

/**
 * Checks what a dead engine left (crash-checks.test-support.ts): <dir>/engine.db, or on PostgreSQL
 * what the store holds, loaded into memory under the writer lease (free again: the child that held
 * it is dead), as the next engine's working copy would be.
 */
export async function inspectCrashState(directory: string, store: TestDatabase | undefined, trustedKey: PublicKeyRecord): Promise<CrashInspection> {
  if (store === undefined) return inspectCrashDirectory(directory, trustedKey);
  const writer = await createPostgresStateStore(store.settings).acquireWriter({ instanceId: 'crash-test-inspection' });
  const copy = openEngineDatabase(':memory:');
  try {
    await writer.load(copy);
    await writer.release();
    // The engine's handle is better-sqlite3's Database, typed by the members the engine uses.
    return inspectCrashDatabase(copy as unknown as Database.Database, directory, trustedKey);
  } finally {
    copy.close();
  }
}
