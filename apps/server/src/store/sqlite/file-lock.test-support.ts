import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** A folder of its own for the calling test, removed when it ends. */
export function testDirectory(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** A process holding a file lock, as the server or `cairn token` would while changing the tokens. */
export interface LockHolder {
  /** Ends it with SIGKILL, as a crash or `kill -9` would, and answers once it is gone. */
  kill(): Promise<void>;
}

/** Starts a Node process that takes the lock `lockPath` and keeps it until killed; answers once it holds it. */
export async function holdFileLockInAnotherProcess(lockPath: string): Promise<LockHolder> {
  const script = `
    const { withFileLock } = await import(${JSON.stringify(new URL('./file-lock.ts', import.meta.url).href)});
    withFileLock(process.argv[1], () => {
      process.stdout.write('held\\n');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    });
  `;
  const child = spawn(process.execPath, ['--conditions=@cairn/source', '--input-type=module', '-e', script, lockPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  onTestFinished(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => chunk.includes('held') && resolve());
    void exited.then(() => reject(new Error(`the holding process ended: ${stderr}`)));
  });
  return {
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
