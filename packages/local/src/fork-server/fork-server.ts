import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { LaunchRequest, LaunchResult, ProcessLauncher } from '@cairn/protocol/workspace';
import { forkServerScript } from './fork-server-script.ts';

const perl = '/usr/bin/perl';
/** util-linux's, as the sandbox uses it: sets the file-size limit that stops a program's output. */
const prlimit = '/usr/bin/prlimit';
const errnoNames = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));
const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/** The Perl process and its pipes (sockets, so that they can stop holding this process open). */
interface ServerProcess {
  readonly process: ChildProcess;
  readonly stdin: Socket;
  readonly stdout: Socket;
  readonly stderr: Socket;
  said: string;
}

interface PendingLaunch {
  readonly request: LaunchRequest;
  readonly files: { readonly input: string; readonly stdout: string; readonly stderr: string };
  readonly resolve: (result: LaunchResult) => void;
  readonly reject: (error: unknown) => void;
  readonly onAbort: () => void;
  aborted: boolean;
}

/**
 * A small long-lived Perl process that starts programs for this one (a ProcessLauncher, the way
 * Python's multiprocessing has a "forkserver"): a fork of Perl costs a fraction of a millisecond,
 * where Node forks its whole address space for each child (~3 ms of CPU from a 120 MB runner,
 * measured in the workspace bench's log). A runner starts ~10 programs an attempt this way (git,
 * mkfs, mount, umount, the idmapping Perl).
 *
 * A program's standard input, output and error are files in a folder of the server's own (0700,
 * removed by `close`), read back once it ended: the programs it runs print little. A launch whose
 * signal aborts is killed (SIGKILL) and rejects with an AbortError; one the server could not start
 * rejects with the errno's code (ENOENT: no such program), as Node's spawn does. A server that dies
 * fails what it was running and is started again by the next launch. It does not keep this process
 * alive while nothing runs.
 *
 * A launch with `maxOutputBytes` runs under `prlimit --fsize=<limit + 1>` (its output being a
 * file): the kernel lets it write one byte past the limit and then ends it (SIGXFSZ, or EFBIG where
 * that is ignored), so an output past the limit costs neither memory nor disk here. That one byte
 * more is how the caller tells. A program missing under such a run is prlimit's failure (exit 127
 * and its message), not ENOENT.
 */
export class ForkServer implements ProcessLauncher {
  /** Where util-linux's prlimit is missing, runs with a limit stay on Node's spawn. */
  readonly capsOutput = existsSync(prlimit);
  readonly #folder: string;
  readonly #pending = new Map<string, PendingLaunch>();
  #server: ServerProcess | undefined;
  #lines = '';
  #nextId = 0;
  #closed = false;

  /** A server whose programs' files go in a new folder under `parent` (the system's temporary folder by default). */
  constructor(parent: string) {
    this.#folder = mkdtempSync(join(parent, 'cairn-fork-server-'));
  }

  launch(request: LaunchRequest): Promise<LaunchResult> {
    if (this.#closed) return Promise.reject(new Error('this fork server was closed: launch programs through another'));
    if (request.signal?.aborted) return Promise.reject(abortError(request.signal));
    const id = String(++this.#nextId);
    const files = {
      input: request.input ? join(this.#folder, `${id}.in`) : '',
      stdout: join(this.#folder, `${id}.out`),
      stderr: join(this.#folder, `${id}.err`),
    };
    return new Promise<LaunchResult>((resolve, reject) => {
      const pending: PendingLaunch = {
        request,
        files,
        resolve,
        reject,
        aborted: false,
        onAbort: () => {
          pending.aborted = true;
          this.#send(['kill', id]);
        },
      };
      const send = () => {
        if (request.signal?.aborted) return this.#settle(pending, () => reject(abortError(request.signal!)));
        const argv = request.maxOutputBytes === undefined ? request.argv : [prlimit, `--fsize=${request.maxOutputBytes + 1}`, '--', ...request.argv];
        const fields = ['spawn', id, request.cwd, files.input, files.stdout, files.stderr, String(argv.length), ...argv];
        for (const [name, value] of Object.entries(request.env)) fields.push(`${name}=${value}`);
        this.#pending.set(id, pending);
        request.signal?.addEventListener('abort', pending.onAbort, { once: true });
        this.#send(fields);
      };
      if (request.input) writeFile(files.input, request.input, { mode: 0o600 }).then(send, reject);
      else send();
    });
  }

  /** Ends the server (the programs it runs go on to their end) and removes its folder. */
  async close(): Promise<void> {
    this.#closed = true;
    const server = this.#server;
    this.#server = undefined;
    if (server && server.process.exitCode === null && server.process.signalCode === null) {
      const exited = new Promise((resolve) => server.process.once('exit', resolve));
      // Held open while it ends: an idle server stops holding this process open (unrefWhenIdle),
      // and a process with nothing else to do would end before its exit came.
      server.process.ref();
      server.stdin.end();
      await exited;
    }
    rmSync(this.#folder, { recursive: true, force: true });
  }

  #send(fields: readonly string[]): void {
    for (const field of fields) {
      if (field.includes('\0')) throw new Error(`a program's argument, environment or folder cannot hold a NUL byte: ${JSON.stringify(field)}`);
    }
    const payload = Buffer.from(fields.join('\0'));
    const server = this.#started();
    for (const handle of [server.process, server.stdout, server.stderr]) handle.ref();
    server.stdin.write(Buffer.concat([Buffer.from(`${payload.byteLength}\n`), payload]));
  }

  #started(): ServerProcess {
    if (this.#server) return this.#server;
    if (!existsSync(perl))
      throw new Error(`the fork server runs on Perl, which is not installed (no ${perl}): install it with \`apt-get install -y perl-base\``);
    const child = spawn(perl, ['-e', forkServerScript], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    const server: ServerProcess = { process: child, stdin: child.stdin as Socket, stdout: child.stdout as Socket, stderr: child.stderr as Socket, said: '' };
    this.#server = server;
    server.stdin.on('error', () => undefined);
    server.stderr.on('data', (chunk: Buffer) => (server.said = `${server.said}${chunk.toString()}`.slice(-4_000)));
    server.stdout.on('data', (chunk: Buffer) => this.#read(chunk));
    child.on('exit', (code, signal) => {
      if (this.#server === server) this.#server = undefined;
      const why = new Error(
        `the fork server (${perl}) exited (${signal ?? `exit ${code}`}) while it ran ${this.#pending.size} program(s)${server.said ? `: ${server.said.trim()}` : ''}`,
      );
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id);
        this.#settle(pending, () => pending.reject(why));
      }
    });
    this.#unrefWhenIdle();
    return server;
  }

  #read(chunk: Buffer): void {
    this.#lines += chunk.toString('utf8');
    let end: number;
    while ((end = this.#lines.indexOf('\n')) >= 0) {
      const [verb, id, value] = this.#lines.slice(0, end).split(' ');
      this.#lines = this.#lines.slice(end + 1);
      const pending = this.#pending.get(id ?? '');
      if (pending === undefined) continue;
      this.#pending.delete(id!);
      if (verb === 'error') {
        const code = errnoNames.get(Number(value)) ?? `errno ${value}`;
        const program = pending.request.argv[0];
        this.#settle(pending, () =>
          pending.reject(Object.assign(new Error(`spawn ${program} ${code}`), { code, errno: -Number(value), syscall: `spawn ${program}`, path: program })),
        );
      } else if (verb === 'exit') {
        const status = Number(value);
        const signal = (status & 0x7f) === 0 ? null : (signalNames.get(status & 0x7f) ?? null);
        void this.#finish(pending, { exitCode: signal === null ? status >> 8 : null, signal });
      }
    }
    this.#unrefWhenIdle();
  }

  async #finish(pending: PendingLaunch, ended: Pick<LaunchResult, 'exitCode' | 'signal'>): Promise<void> {
    try {
      const [stdout, stderr] = await Promise.all([readFile(pending.files.stdout), readFile(pending.files.stderr)]);
      this.#settle(pending, () => (pending.aborted ? pending.reject(abortError(pending.request.signal!)) : pending.resolve({ ...ended, stdout, stderr })));
    } catch (error) {
      this.#settle(pending, () => pending.reject(error));
    }
  }

  /** Stops listening for its abort, removes its files, then settles it. */
  #settle(pending: PendingLaunch, settle: () => void): void {
    pending.request.signal?.removeEventListener('abort', pending.onAbort);
    const { input, stdout, stderr } = pending.files;
    void Promise.all([input, stdout, stderr].filter(Boolean).map((file) => rm(file, { force: true }))).finally(settle);
  }

  /** Nothing running: the server does not hold this process open. */
  #unrefWhenIdle(): void {
    if (this.#pending.size > 0 || !this.#server) return;
    for (const handle of [this.#server.process, this.#server.stdout, this.#server.stderr]) handle.unref();
  }
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason as unknown });
}
