import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, ResultRecord, StorageProviderV1 } from '@cairn/core';
import {
  executionWorker,
  ForkServer,
  removeIdleSandboxCgroups,
  removeWithMounts,
  sandboxReachRefusal,
  workspaceLayersProblem,
  type ExecutionWorkerOptions,
} from '@cairn/local';
import {
  CairnError,
  isCairnError,
  parseSettings,
  runnerPollLimits,
  type RunnerExitsAnswer,
  type RunnerExitStatus,
  type RunnerLease,
  type RunnerPollAnswer,
  type RunnerPollRequest,
} from '@cairn/protocol';
import { installedProcessLauncher, useProcessLauncher } from '@cairn/protocol/workspace';
import type { Worker } from '@cairn/worker';
import type { z } from 'zod';
import { createRunnerStorageProvider } from '../storage/runner-storage-provider.ts';
import { attemptExitStatus } from './attempt-exit-status.ts';
import { reconnectDelayMs } from './reconnect-delay.ts';
import { RunnerConnection, ServerUnavailable } from './runner-connection.ts';
import { runnerSettingsSchema, type RunnerSettings } from './runner-settings.ts';
import { ownFolderPrefix, sweepGoneRunners } from './gone-runners.ts';
import { UnreportedExits } from './unreported-exits.ts';

/** The runner's version, sent in every poll (the server refuses another minor version). Kept equal to the package's VERSION by a test. */
export const runnerVersion = '0.1.0';

/** The snapshot cache's folder in the work root, as the local executor's. */
const snapshotCacheFolderName = 'cairn-snapshots';
/** Where the attempts' workspace file systems are kept as templates, made once per size (as the local executor's). */
const volumeTemplatesFolderName = 'cairn-volume-templates';
/** How long a stopping runner waits for its last exits report. */
const finalReportMs = 5_000;

interface Attempt {
  readonly lease: RunnerLease;
  readonly controller: AbortController;
  readonly startedAt: number;
  /** Stopped by the runner itself (stopping, or cut off): its exit is not reported, and the server records it lost. */
  abandoned: boolean;
  /** Settles when it ended and its end was taken in. */
  done: Promise<void>;
}

/** What the runner is doing: `draining` takes no new work and lets held attempts finish. */
type RunnerState = 'new' | 'starting' | 'running' | 'draining' | 'stopping' | 'stopped';

/**
 * A runner (ADR 0050): a daemon on a Linux host with bubblewrap that dials out to its server, takes
 * leased attempts over long polls and runs them in this process with one execution worker (the
 * local executor's: sandboxes, snapshot cache, limits, egress). Every poll lists what it holds (the
 * heartbeat of each lease); an attempt's exit is reported at once, by the poll its end sends anyway
 * (by an exits report while it stops), and kept (on disk too) until the server takes it. While the server cannot be reached the attempts run on and the runner tries
 * again, backing off; a refused token or version stops it, with its attempts.
 */
export class Runner {
  readonly #settings: z.output<typeof runnerSettingsSchema>;
  readonly #logger: Logger | undefined;
  readonly #connection: RunnerConnection;
  readonly #running = new Map<string, Attempt>();
  /** Leased beyond the free slots (two polls answered at once): started as slots free. */
  readonly #waiting = new Map<string, RunnerLease>();
  /** Ended attempts whose exit the server has not taken yet. */
  readonly #unreported = new Map<string, RunnerExitStatus>();
  #exitFiles: UnreportedExits | undefined;
  #worker: Worker | undefined;
  #ownWorkRoot: string | undefined;
  /** Starts the attempts' git, mount and umount programs: this process forks none of them (see ForkServer). */
  #forkServer: ForkServer | undefined;
  #state: RunnerState = 'new';
  /** Aborted when the runner stops: its pending poll, its waits. */
  readonly #life = new AbortController();
  /** Aborted when a drain's grace is cut short (stop without drain during one). */
  readonly #graceCut = new AbortController();
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #flushing: Promise<void> | undefined;
  #flushAgain = false;
  #stopping: Promise<void> | undefined;
  #failure: CairnError | undefined;
  /** The server drains this runner (an operator's `cairn runners drain`): it offers no slots until the server resumes it. */
  #drainedByServer = false;
  readonly #stopped: Promise<void>;
  #settle!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(settings: RunnerSettings) {
    this.#settings = parseSettings(runnerSettingsSchema, settings, 'runner');
    this.#logger = settings.logger;
    this.#connection = new RunnerConnection(this.#settings.server, this.#settings.token, runnerVersion);
    this.#stopped = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
    // Read by whoever awaits it; a runner nobody awaits must not crash its process with it.
    this.#stopped.catch(() => undefined);
  }

  /**
   * Settles once the runner has stopped: resolves after `stop()`, rejects with a CairnError when the
   * server cut it off (CAIRN_UNAUTHENTICATED or CAIRN_FORBIDDEN: its token; a refused version).
   */
  get stopped(): Promise<void> {
    return this.#stopped;
  }

  /** Execution ids it holds: running, leased and waiting for a slot, or ended and not reported yet. */
  held(): string[] {
    return [...new Set([...this.#running.keys(), ...this.#waiting.keys(), ...this.#unreported.keys()])];
  }

  /**
   * Prepares the host (bubblewrap there, the work root, leftovers of runners that are gone, the
   * snapshot cache) and starts polling; resolves once the first poll is on its way.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new CairnError('CAIRN_CONFIG_INVALID', 'This runner was started already: make a new one.', { path: 'runner' });
    this.#state = 'starting';
    const settings = this.#settings;
    if (!existsSync(settings.bwrap)) {
      this.#state = 'stopped';
      const error = new CairnError(
        'CAIRN_CONFIG_INVALID',
        `bubblewrap is not installed (no ${settings.bwrap}): a runner runs every attempt in a bubblewrap sandbox. Install it with \`apt-get install -y bubblewrap\`.`,
        { path: 'runner.bwrap' },
      );
      this.#settle.reject(error);
      throw error;
    }
    const workRoot = resolve(settings.workRoot ?? tmpdir());
    mkdirSync(workRoot, { recursive: true, mode: 0o711 });
    // Every attempt would fail in bubblewrap ("Can't find source path ... Permission denied"): said once, here.
    const unreachable = sandboxReachRefusal(workRoot, 'runner.workRoot');
    if (unreachable !== undefined) {
      this.#state = 'stopped';
      this.#settle.reject(unreachable);
      throw unreachable;
    }
    sweepGoneRunners(workRoot, this.#logger);
    this.#ownWorkRoot = join(workRoot, `${ownFolderPrefix}${process.pid}`);
    mkdirSync(this.#ownWorkRoot, { recursive: true, mode: 0o711 });
    // Cgroups of sandboxes whose reaper died with a previous runner (a live sandbox's cannot be removed).
    removeIdleSandboxCgroups({ uids: settings.uids });
    this.#exitFiles = new UnreportedExits(settings.stateDirectory);
    for (const [executionId, status] of this.#exitFiles.read()) this.#unreported.set(executionId, status);
    const snapshotCache = await this.#snapshotCache(workRoot);
    const options: ExecutionWorkerOptions = {
      trustedKeys: settings.trustedKeys,
      sandbox: 'bubblewrap',
      limits: settings.limits,
      uids: settings.uids,
      bwrap: settings.bwrap,
      keepWorkDirectory: settings.keepWorkDirectory,
      egress: settings.egress,
      ...(snapshotCache ? { snapshotCache } : {}),
    };
    if (settings.forkServer) {
      this.#forkServer = new ForkServer(this.#ownWorkRoot);
      useProcessLauncher(this.#forkServer);
    }
    this.#worker = executionWorker(options, {
      storage: this.#storage(),
      workRoot: this.#ownWorkRoot,
      volumeTemplates: join(workRoot, volumeTemplatesFolderName),
      ...(this.#logger ? { logger: this.#logger } : {}),
    });
    this.#state = 'running';
    this.#logger?.info(
      { server: settings.server, version: runnerVersion, labels: settings.labels, slots: settings.slots, unreported: this.#unreported.size },
      'runner started',
    );
    this.#loop = this.#pollLoop();
  }

  /**
   * Stops the runner. With `drain`, it first takes no more work and lets its attempts finish (up to
   * `drainGraceMs`), still heartbeating them and reporting their exits. Whatever still runs then is
   * stopped and not reported: the server records it lost and runs it again. A stop without drain
   * during a drain cuts the grace short.
   */
  async stop(options: { readonly drain?: boolean } = {}): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped';
      this.#settle.resolve();
      return;
    }
    if (!options.drain) this.#graceCut.abort();
    this.#stopping ??= this.#stop(options.drain === true);
    return this.#stopping.then(() => this.#stopped.catch(() => undefined));
  }

  async #stop(drain: boolean): Promise<void> {
    if (drain && this.#state === 'running') {
      this.#state = 'draining';
      this.#logger?.info({ held: this.held().length, graceMs: this.#settings.drainGraceMs }, 'runner draining: no new work');
      this.#wakePoll();
      await this.#drained();
    }
    await this.#shutDown(undefined);
  }

  /** Resolves when nothing held is left to run or report, the grace is over, or it is cut short. */
  async #drained(): Promise<void> {
    const graceOver = sleep(this.#settings.drainGraceMs, undefined, { signal: AbortSignal.any([this.#graceCut.signal, this.#life.signal]) }).catch(
      () => undefined,
    );
    let over = false;
    void graceOver.then(() => (over = true));
    while (!over && this.held().length > 0) {
      await Promise.race([graceOver, ...[...this.#running.values()].map((attempt) => attempt.done), sleep(100)]);
    }
  }

  /** Stops what still runs (abandoned: not reported), reports what can be, and ends the loop. */
  async #shutDown(failure: CairnError | undefined): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    this.#failure = failure;
    for (const executionId of this.#waiting.keys()) this.#logger?.info({ executionId }, 'lease dropped: never started, the runner is stopping');
    this.#waiting.clear();
    for (const attempt of this.#running.values()) {
      attempt.abandoned = true;
      attempt.controller.abort();
    }
    await Promise.all([...this.#running.values()].map((attempt) => attempt.done));
    // The exits of what ended meanwhile, given a moment; what is not reported is kept on disk for the next start.
    if (failure === undefined && this.#unreported.size > 0) {
      const given = new AbortController();
      await Promise.race([this.#flushExits(), sleep(finalReportMs, undefined, { signal: given.signal }).catch(() => undefined)]);
      given.abort();
    }
    this.#life.abort();
    if (this.#forkServer !== undefined) {
      if (installedProcessLauncher() === this.#forkServer) useProcessLauncher(undefined);
      await this.#forkServer.close();
    }
    await this.#loop;
    if (this.#ownWorkRoot !== undefined && !this.#settings.keepWorkDirectory) {
      try {
        removeWithMounts(this.#ownWorkRoot);
      } catch (error) {
        this.#logger?.warn({ directory: this.#ownWorkRoot, error: (error as Error).message }, 'could not remove the work folder; the next runner sweeps it');
      }
    }
    this.#state = 'stopped';
    this.#logger?.info({ unreported: this.#unreported.size }, 'runner stopped');
    if (failure === undefined) this.#settle.resolve();
    else this.#settle.reject(failure);
  }

  /**
   * Polls while it runs or drains. A poll waits on the server for work; when a slot frees (an
   * attempt ended) a new poll is sent at once, and the server answers the older one empty. Every
   * answer is taken, whichever poll it answers, so that no lease handed out is dropped.
   */
  async #pollLoop(): Promise<void> {
    let failures = 0;
    while (this.#state === 'running' || this.#state === 'draining') {
      const woken = new Promise<'woken'>((resolve) => (this.#wake = () => resolve('woken')));
      const request = this.#pollRequest();
      const carried = request.exits !== undefined;
      const polled = this.#connection.poll(request, this.#life.signal).then(
        (answer) => ({ answer }),
        (error: unknown) => ({ error }),
      );
      const first = await Promise.race([polled, woken]);
      if (first === 'woken') {
        void polled.then((late) => 'answer' in late && this.#take(late.answer));
        continue;
      }
      if ('error' in first) {
        if (this.#life.signal.aborted) return;
        if (!(first.error instanceof ServerUnavailable)) {
          await this.#fail(first.error);
          return;
        }
        failures++;
        const delayMs = reconnectDelayMs(failures, this.#settings.reconnect, Math.random());
        const log = { error: first.error.message, failures, retryInMs: delayMs, held: this.held().length };
        if (failures === 1) this.#logger?.warn(log, 'server unreachable: attempts keep running, polling again');
        else this.#logger?.debug(log, 'server still unreachable');
        await sleep(delayMs, undefined, { signal: this.#life.signal }).catch(() => undefined);
        continue;
      }
      if (failures > 0) this.#logger?.info({ failures, held: this.held().length }, 'server reached again');
      failures = 0;
      this.#take(first.answer);
      // A server that took the poll but said nothing of its exits: reported the other way.
      if (first.answer.exits === undefined && carried) void this.#flushExits();
    }
  }

  /**
   * What the next poll says: its free slots, what it holds, and the exits not taken yet (a poll is
   * sent when an attempt ends anyway: carrying its exit saves an exits report). An exit carried is
   * not listed as held; one beyond a poll's bound is, until a later poll carries it.
   */
  #pollRequest(): RunnerPollRequest {
    const free = this.#state === 'running' && !this.#drainedByServer ? Math.max(0, this.#settings.slots - this.#running.size - this.#waiting.size) : 0;
    const exits = [...this.#unreported].slice(0, runnerPollLimits.slots).map(([executionId, status]) => ({ executionId, status }));
    const carried = new Set(exits.map((exit) => exit.executionId));
    return {
      version: runnerVersion,
      labels: this.#settings.labels,
      slots: free,
      held: this.held().filter((executionId) => !carried.has(executionId)),
      waitMs: this.#settings.pollWaitMs,
      ...(exits.length > 0 ? { exits } : {}),
    };
  }

  #wakePoll(): void {
    this.#wake?.();
  }

  /** Takes a poll's answer: notes a drain, stops what it cancels, queues its leases and starts what the slots take. */
  #take(answer: RunnerPollAnswer): void {
    if (answer.exits !== undefined) this.#exitsAnswered(answer.exits);
    const drained = answer.drain === true;
    if (drained !== this.#drainedByServer) {
      this.#drainedByServer = drained;
      // Said once per change, not per poll: a drained runner keeps polling to heartbeat what it holds.
      if (drained)
        this.#logger?.info({ held: this.held().length }, 'drained by the server: no new work; held attempts run on (cairn runners resume to end it)');
      else this.#logger?.info({ slots: this.#settings.slots }, 'resumed by the server: taking work again');
    }
    for (const executionId of answer.cancel) {
      const attempt = this.#running.get(executionId);
      if (attempt !== undefined) {
        this.#logger?.info({ executionId }, 'lease cancelled by the server: stopping its attempt');
        attempt.controller.abort();
      } else if (this.#waiting.delete(executionId)) {
        this.#logger?.info({ executionId }, 'lease cancelled by the server before it started');
        this.#exitEnded(executionId, { state: 'exited', outcome: 'cancelled', reason: 'cancelled before the runner started it' });
      }
    }
    if (this.#state === 'stopping' || this.#state === 'stopped') {
      // Too late to run: unlisted from now on, they lapse and the server runs them again.
      for (const lease of answer.leases) this.#logger?.info({ executionId: lease.executionId }, 'lease dropped: the runner is stopping');
      return;
    }
    for (const lease of answer.leases) {
      if (this.#running.has(lease.executionId) || this.#waiting.has(lease.executionId) || this.#unreported.has(lease.executionId)) continue;
      this.#waiting.set(lease.executionId, lease);
      this.#logger?.info(
        { executionId: lease.executionId, labels: lease.labels, leasedAt: lease.leasedAt, latencyMs: Date.now() - Date.parse(lease.leasedAt) },
        'lease taken',
      );
    }
    this.#startWaiting();
  }

  #startWaiting(): void {
    for (const [executionId, lease] of this.#waiting) {
      if (this.#running.size >= this.#settings.slots || (this.#state !== 'running' && this.#state !== 'draining')) return;
      this.#waiting.delete(executionId);
      const attempt: Attempt = { lease, controller: new AbortController(), startedAt: Date.now(), abandoned: false, done: Promise.resolve() };
      this.#running.set(executionId, attempt);
      attempt.done = this.#worker!.run(lease.task, attempt.controller.signal).then(
        (record: ResultRecord) => this.#attemptEnded(attempt, { record }),
        (error: unknown) => this.#attemptEnded(attempt, { error }),
      );
    }
  }

  #attemptEnded(attempt: Attempt, ended: { readonly record: ResultRecord } | { readonly error: unknown }): void {
    const { executionId } = attempt.lease;
    this.#running.delete(executionId);
    const status = attemptExitStatus(executionId, ended);
    this.#logger?.info(
      {
        executionId,
        outcome: status.outcome,
        ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
        ...(status.reason === undefined ? {} : { reason: status.reason }),
        durationMs: Date.now() - attempt.startedAt,
        ...(attempt.abandoned ? { reported: false } : {}),
      },
      'lease ended',
    );
    if (!attempt.abandoned) this.#exitEnded(executionId, status);
    this.#startWaiting();
    // A slot is free: ask for work now rather than when the waiting poll comes back.
    if (this.#state === 'running') this.#wakePoll();
  }

  #exitEnded(executionId: string, status: RunnerExitStatus): void {
    this.#unreported.set(executionId, status);
    try {
      this.#exitFiles?.write(executionId, status);
    } catch (error) {
      // Kept in memory all the same: only a restart before it is reported loses it (the attempt is then lost and run again).
      this.#logger?.warn({ executionId, error: (error as Error).message }, 'could not keep the exit on disk');
    }
    // Polling, the next poll carries it (sent now); stopping, the last report does.
    if (this.#state === 'running' || this.#state === 'draining') this.#wakePoll();
  }

  /**
   * Reports the unreported exits by `POST /v1/runner/exits`, one report at a time: when the runner
   * stops (its polls are over), or when a server did not answer for the exits a poll carried. A
   * failure that may pass leaves them for the next poll.
   */
  async #flushExits(): Promise<void> {
    if (this.#flushing !== undefined) {
      this.#flushAgain = true;
      return this.#flushing;
    }
    this.#flushing = (async () => {
      do {
        this.#flushAgain = false;
        const batch = [...this.#unreported].slice(0, runnerPollLimits.slots).map(([executionId, status]) => ({ executionId, status }));
        if (batch.length === 0) return;
        let answer;
        try {
          answer = await this.#connection.reportExits(batch, this.#life.signal);
        } catch (error) {
          if (error instanceof ServerUnavailable) {
            this.#logger?.warn({ error: error.message, unreported: this.#unreported.size }, 'exits not reported yet: reported after the next poll');
            return;
          }
          if (!this.#life.signal.aborted) await this.#fail(error);
          return;
        }
        this.#exitsAnswered(answer);
      } while (this.#flushAgain);
    })().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  /** The server took these exits or refused them for good (not its lease, or it lapsed): either way they are done with. */
  #exitsAnswered(answer: RunnerExitsAnswer): void {
    for (const executionId of answer.accepted) this.#reported(executionId);
    for (const refusal of answer.refused) {
      this.#logger?.warn({ executionId: refusal.executionId, reason: refusal.reason }, 'exit refused by the server');
      this.#reported(refusal.executionId);
    }
  }

  #reported(executionId: string): void {
    this.#unreported.delete(executionId);
    try {
      this.#exitFiles?.remove(executionId);
    } catch {
      // A file left is reported again after a restart, and refused or accepted again: harmless.
    }
  }

  /** The server refused the runner for good: it stops, its attempts with it, and `stopped` rejects. */
  async #fail(error: unknown): Promise<void> {
    const failure = isCairnError(error)
      ? error
      : new CairnError('CAIRN_INTERNAL', `The runner failed: ${(error as Error).message ?? String(error)}`, { cause: error });
    if (this.#failure !== undefined || this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#logger?.error({ code: failure.code, error: failure.message }, 'runner refused by the server: stopping');
    this.#graceCut.abort();
    // Not awaited from the loop that calls it: the shut-down awaits that loop.
    void this.#shutDown(failure);
  }

  /** The server's runner storage (the keys of the attempts this runner holds), unless one is given. */
  #storage(): StorageProviderV1 {
    return this.#settings.storage ?? createRunnerStorageProvider({ baseUrl: this.#settings.server, token: this.#settings.token });
  }

  /** The snapshot cache's settings once a workspace could be laid in the work root (as the local executor finds out), else undefined. */
  async #snapshotCache(workRoot: string): Promise<ExecutionWorkerOptions['snapshotCache']> {
    const { snapshotCache } = this.#settings;
    if (!snapshotCache.enabled) return undefined;
    const problem = await workspaceLayersProblem(this.#ownWorkRoot!);
    if (problem !== undefined) {
      this.#logger?.warn(
        { setting: 'runner.snapshotCache', problem },
        `workspaces cannot be laid over cached snapshots here (${problem}): every attempt extracts its snapshot`,
      );
      return undefined;
    }
    return {
      directory: resolve(snapshotCache.directory ?? join(workRoot, snapshotCacheFolderName)),
      maxBytes: snapshotCache.maxBytes,
      maxAgeMs: snapshotCache.maxAgeHours * 3_600_000,
      checkEveryMs: snapshotCache.checkEverySeconds * 1_000,
    };
  }
}

/** Builds a runner; throws CAIRN_CONFIG_INVALID naming every bad option (`runner.<option>`). */
export function createRunner(settings: RunnerSettings): Runner {
  return new Runner(settings);
}
