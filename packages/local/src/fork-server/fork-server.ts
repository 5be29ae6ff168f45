import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import type { LaunchRequest, LaunchResult, LiveLaunchRequest, LiveProcess, ProcessLauncher } from '@cairn/protocol/workspace';
import { forkServerScript } from './fork-server-script.ts';

const perl = '/usr/bin/perl';
/** util-linux's: sets the file-size limit that stops a program's output, where the server cannot itself. */
const prlimit = '/usr/bin/prlimit';
/**
 * The prlimit64 system call's number on this architecture, where it is known here (x86-64 and
 * arm64): the server's child sets the file-size limit itself before it execs, one program fewer
 * than a prlimit (~1.5 ms of CPU a capped run). Elsewhere, prlimit as before.
 */
const prlimit64 = ({ x64: 302, arm64: 261 } as Readonly<Record<string, number | undefined>>)[process.arch];
const errnoNames = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));
const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/** The Perl process and its pipes (sockets, so that they can stop holding this process open). */
interface ServerProcess {
  readonly process: ChildProcess;
  readonly stdin: Socket;
  readonly stdout: Socket;
  readonly stderr: Socket;
  said: string;
  /** What it sent that is not taken in yet: the header of an answer whose bytes are still coming, and the chunks after it. */
  readonly answers: { header: string[] | undefined; chunks: Buffer[]; bytes: number };
}

interface PendingLaunch {
  readonly request: LaunchRequest;
  readonly resolve: (result: LaunchResult) => void;
  readonly reject: (error: unknown) => void;
  readonly onAbort: () => void;
  aborted: boolean;
}

type Ended = Awaited<LiveProcess['exited']>;

interface PendingLive {
  readonly request: LiveLaunchRequest;
  readonly resolve: (started: LiveProcess) => void;
  readonly reject: (error: unknown) => void;
  /** Set once it started: resolves its `exited`. */
  ended?: (ended: Ended) => void;
}

/**
 * A small long-lived Perl process that starts programs for this one (a ProcessLauncher, the way
 * Python's multiprocessing has a "forkserver"): a fork of Perl costs a fraction of a millisecond,
 * where Node forks its whole address space for each child (~3 ms of CPU from a 120 MB runner,
 * measured in the workspace bench's log). A runner starts ~10 programs an attempt this way (git,
 * mkfs, mount, umount, the idmapping Perl).
 *
 * A program's standard input, output and error are files in a folder of the server's own (0700,
 * removed by `close`), unlinked as soon as they are open; the server sends the input with the
 * request and the output and error back with the exit, through its pipes, so this process touches
 * no file for a program (each file operation here was a round trip through libuv's thread pool:
 * about half of what a launch cost this process). A launch whose
 * signal aborts is killed (SIGKILL) and rejects with an AbortError; one the server could not start
 * rejects with the errno's code (ENOENT: no such program), as Node's spawn does. A server that dies
 * fails what it was running and is started again by the next launch. It does not keep this process
 * alive while nothing runs.
 *
 * A launch of `/usr/bin/perl -e <program> [arguments]` runs the program in the server's child
 * itself, without an exec (a new perl's start-up and its modules, ~3 ms of CPU for the idmapping's
 * program, measured, are most of such a run): the same Perl, a fresh package, the arguments in
 * @ARGV, the given environment and files; a die ends it with its message on standard error and a
 * non-zero status as perl's would. The child first closes what the server holds for other
 * programs (their lifelines above all), which an exec would have closed.
 *
 * A launch with `maxOutputBytes` runs with a file-size limit (RLIMIT_FSIZE, soft and hard) of
 * `<limit + 1>` bytes (its output being a file): the kernel lets it write one byte past the limit
 * and then ends it (SIGXFSZ, or EFBIG where that is ignored), so an output past the limit costs
 * neither memory nor disk here. That one byte more is how the caller tells. The server's child
 * sets the limit before it execs the program (see prlimit64); on an architecture whose system call
 * number is not known here, the program runs under `prlimit --fsize=<limit + 1>`, and a program
 * missing under such a run is prlimit's failure (exit 127 and its message), not ENOENT.
 *
 * `start` runs a program whose output is read as it comes, with a lifeline (the command runtime's
 * sandbox): the server forks it (a session of its own), holds the lifeline's write end, and this
 * process opens the read ends of its output's pipes through `/proc/<server>/fd`. A fork of this
 * process costs 12–16 ms of its CPU for the sandbox alone (the workspace bench's profile). The
 * lifeline closes when the program ends, on `closeLifeline`, and when the server ends, which it
 * does when this process dies (end of its standard input): the sandbox still dies with the runner.
 */
export class ForkServer implements ProcessLauncher {
  /** Where neither the system call nor util-linux's prlimit can set the limit, runs with a limit stay on Node's spawn. */
  readonly capsOutput = prlimit64 !== undefined || existsSync(prlimit);
  readonly #folder: string;
  readonly #pending = new Map<string, PendingLaunch>();
  readonly #live = new Map<string, PendingLive>();
  #server: ServerProcess | undefined;
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
    return new Promise<LaunchResult>((resolve, reject) => {
      const pending: PendingLaunch = {
        request,
        resolve,
        reject,
        aborted: false,
        onAbort: () => {
          pending.aborted = true;
          this.#send(['kill', id]);
        },
      };
      const capped = request.maxOutputBytes === undefined ? undefined : String(request.maxOutputBytes + 1);
      const limitedHere = capped === undefined || prlimit64 !== undefined;
      // `/usr/bin/perl -e <program> …`, the server's own Perl: run in its child, no interpreter started.
      const script = limitedHere && request.argv[0] === perl && request.argv[1] === '-e' && request.argv.length >= 3;
      const argv = script ? request.argv.slice(2) : limitedHere ? request.argv : [prlimit, `--fsize=${capped}`, '--', ...request.argv];
      const fields = [script ? 'script' : 'spawn', id, request.cwd, prlimit64 === undefined ? '' : (capped ?? ''), String(argv.length), ...argv];
      for (const [name, value] of Object.entries(request.env)) fields.push(`${name}=${value}`);
      this.#pending.set(id, pending);
      request.signal?.addEventListener('abort', pending.onAbort, { once: true });
      try {
        this.#send(fields, request.input);
      } catch (error) {
        this.#pending.delete(id);
        this.#settle(pending, () => reject(error));
      }
    });
  }

  start(request: LiveLaunchRequest): Promise<LiveProcess> {
    if (this.#closed) return Promise.reject(new Error('this fork server was closed: start programs through another'));
    const id = String(++this.#nextId);
    return new Promise<LiveProcess>((resolve, reject) => {
      const fields = ['live', id, request.cwd, request.lifeline === true ? '1' : '0', String(request.argv.length), ...request.argv];
      for (const [name, value] of Object.entries(request.env)) fields.push(`${name}=${value}`);
      this.#live.set(id, { request, resolve, reject });
      try {
        this.#send(fields);
      } catch (error) {
        this.#live.delete(id);
        reject(error);
      }
    });
  }

  /**
   * Ends the server and removes its folder. The programs `launch` started go on to their end; those
   * `start` started with a lifeline lose it (the server held it).
   */
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

  /** One request: `<fields length> <input length>\n`, the fields NUL-separated, then the input's bytes. */
  #send(fields: readonly string[], input?: Uint8Array): void {
    for (const field of fields) {
      if (field.includes('\0')) throw new Error(`a program's argument, environment or folder cannot hold a NUL byte: ${JSON.stringify(field)}`);
    }
    const payload = Buffer.from(fields.join('\0'));
    const server = this.#started();
    for (const handle of [server.process, server.stdout, server.stderr]) handle.ref();
    const header = Buffer.from(`${payload.byteLength} ${input?.byteLength ?? 0}\n`);
    server.stdin.write(input === undefined || input.byteLength === 0 ? Buffer.concat([header, payload]) : Buffer.concat([header, payload, input]));
  }

  #started(): ServerProcess {
    if (this.#server) return this.#server;
    if (!existsSync(perl))
      throw new Error(`the fork server runs on Perl, which is not installed (no ${perl}): install it with \`apt-get install -y perl-base\``);
    const child = spawn(perl, ['-e', forkServerScript, this.#folder, String(prlimit64 ?? '')], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin' },
    });
    const server: ServerProcess = {
      process: child,
      stdin: child.stdin as Socket,
      stdout: child.stdout as Socket,
      stderr: child.stderr as Socket,
      said: '',
      answers: { header: undefined, chunks: [], bytes: 0 },
    };
    this.#server = server;
    server.stdin.on('error', () => undefined);
    server.stderr.on('data', (chunk: Buffer) => (server.said = `${server.said}${chunk.toString()}`.slice(-4_000)));
    server.stdout.on('data', (chunk: Buffer) => this.#read(server, chunk));
    child.on('exit', (code, signal) => {
      if (this.#server === server) this.#server = undefined;
      const why = new Error(
        `the fork server (${perl}) exited (${signal ?? `exit ${code}`}) while it ran ${this.#pending.size} program(s)${server.said ? `: ${server.said.trim()}` : ''}`,
      );
      for (const [id, pending] of this.#pending) {
        this.#pending.delete(id);
        this.#settle(pending, () => pending.reject(why));
      }
      // Their lifelines closed with the server: a wrapper reading one has killed what it started.
      for (const [id, live] of this.#live) {
        this.#live.delete(id);
        if (live.ended) live.ended({ exitCode: null, signal: 'SIGKILL' });
        else live.reject(why);
      }
    });
    this.#unrefWhenIdle();
    return server;
  }

  /**
   * Takes the server's answers in: lines `error <id> <errno>`, and `exit <id> <status> <output
   * length> <error length>` followed by those bytes. Chunks are kept as they come and joined only
   * once an answer is whole, so a long output is copied once.
   */
  #read(server: ServerProcess, chunk: Buffer): void {
    const answers = server.answers;
    answers.chunks.push(chunk);
    answers.bytes += chunk.byteLength;
    for (;;) {
      if (answers.header === undefined) {
        const joined = answers.chunks.length === 1 ? answers.chunks[0]! : Buffer.concat(answers.chunks, answers.bytes);
        const end = joined.indexOf(10);
        if (end < 0) {
          answers.chunks = [joined];
          break;
        }
        answers.header = joined.toString('latin1', 0, end).split(' ');
        const rest = joined.subarray(end + 1);
        answers.chunks = rest.byteLength > 0 ? [rest] : [];
        answers.bytes = rest.byteLength;
      }
      const header = answers.header;
      const [verb, id, value, outputLength, errorLength] = header;
      const lengths = verb === 'exit' ? [Number(outputLength), Number(errorLength)] : [0, 0];
      if (answers.bytes < lengths[0]! + lengths[1]!) break;
      const joined = answers.chunks.length === 1 ? answers.chunks[0]! : Buffer.concat(answers.chunks, answers.bytes);
      const stdout = joined.subarray(0, lengths[0]);
      const stderr = joined.subarray(lengths[0], lengths[0]! + lengths[1]!);
      const rest = joined.subarray(lengths[0]! + lengths[1]!);
      answers.header = undefined;
      answers.chunks = rest.byteLength > 0 ? [rest] : [];
      answers.bytes = rest.byteLength;
      if (this.#live.has(id ?? '')) this.#answeredLive(server, header);
      else this.#answered(verb, id, value, stdout, stderr);
    }
    this.#unrefWhenIdle();
  }

  #answered(verb: string | undefined, id: string | undefined, value: string | undefined, stdout: Buffer, stderr: Buffer): void {
    const pending = this.#pending.get(id ?? '');
    if (pending === undefined) return;
    this.#pending.delete(id!);
    if (verb === 'error') {
      this.#settle(pending, () => pending.reject(spawnError(pending.request.argv[0], value)));
    } else if (verb === 'exit') {
      const ended = endedBy(Number(value));
      // Copied out of the chunk they came in, which may hold other answers.
      this.#settle(pending, () =>
        pending.aborted
          ? pending.reject(abortError(pending.request.signal!))
          : pending.resolve({ ...ended, stdout: Buffer.from(stdout), stderr: Buffer.from(stderr) }),
      );
    }
  }

  /**
   * An answer about a program `start` started: `error <id> <errno>`, `started <id> <pid> <output
   * fd> <error fd>` (its pipes' read ends, opened here through the server's /proc, then let go of
   * there), `exit <id> <wait status> 0 0`.
   */
  #answeredLive(server: ServerProcess, [verb, id, value, outputFd, errorFd]: readonly string[]): void {
    const live = this.#live.get(id!)!;
    if (verb === 'error') {
      this.#live.delete(id!);
      live.reject(spawnError(live.request.argv[0], value));
    } else if (verb === 'started') {
      const pid = Number(value);
      const opened: number[] = [];
      try {
        for (const fd of [outputFd, errorFd]) opened.push(openSync(`/proc/${server.process.pid}/fd/${fd}`, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK));
      } catch (error) {
        for (const fd of opened) closeSync(fd);
        // Started, but its output cannot be read: it is killed (its group, and its lifeline let go).
        killGroup(pid);
        this.#send(['opened', id!]);
        this.#send(['release', id!]);
        live.ended = () => undefined;
        live.reject(error);
        return;
      }
      this.#send(['opened', id!]);
      const [stdout, stderr] = opened.map((fd) => new Socket({ fd, readable: true, writable: false })) as [Socket, Socket];
      const exited = new Promise<Ended>((resolve) => (live.ended = resolve));
      live.resolve({
        pid,
        stdout,
        stderr,
        exited,
        closeLifeline: () => {
          if (this.#live.get(id!) === live && this.#server === server) this.#send(['release', id!]);
        },
      });
    } else if (verb === 'exit') {
      this.#live.delete(id!);
      live.ended?.(endedBy(Number(value)));
    }
  }

  /** Stops listening for its abort, then settles it. */
  #settle(pending: PendingLaunch, settle: () => void): void {
    pending.request.signal?.removeEventListener('abort', pending.onAbort);
    settle();
  }

  /** Nothing running: the server does not hold this process open. */
  #unrefWhenIdle(): void {
    if (this.#pending.size > 0 || this.#live.size > 0 || !this.#server) return;
    for (const handle of [this.#server.process, this.#server.stdout, this.#server.stderr]) handle.unref();
  }
}

/** Node's spawn error for a program that could not be started (`errno` as the server sent it). */
function spawnError(program: string | undefined, errno: string | undefined): Error {
  const code = errnoNames.get(Number(errno)) ?? `errno ${errno}`;
  return Object.assign(new Error(`spawn ${program} ${code}`), { code, errno: -Number(errno), syscall: `spawn ${program}`, path: program });
}

/** A wait status decoded as Node's `exit` event gives it. */
function endedBy(status: number): Ended {
  const signal = (status & 0x7f) === 0 ? null : (signalNames.get(status & 0x7f) ?? null);
  return { exitCode: signal === null ? status >> 8 : null, signal };
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: signal.reason as unknown });
}
