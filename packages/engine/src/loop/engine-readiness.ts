import type { Logger } from '@cairn/core';
import { storageFullReason } from '../store/storage-full.ts';
import type { EngineHealth } from '../engine-health.ts';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';

export interface EngineReadinessSettings {
  readonly workingCopy: WorkingCopy;
  readonly logger?: Logger | undefined;
}

/**
 * Whether the engine can do its work, and if not why and since when: not ready while the disk
 * under its database is full (until a write goes through again), or once its signer was refused.
 */
export class EngineReadiness {
  readonly #workingCopy: WorkingCopy;
  readonly #logger: Logger | undefined;
  #health: EngineHealth = { ready: true, since: new Date().toISOString() };
  /** Set for good once the state could not be made durable: nothing makes the engine ready again. */
  #notDurable = false;

  constructor(settings: EngineReadinessSettings) {
    this.#workingCopy = settings.workingCopy;
    this.#logger = settings.logger;
  }

  health(): EngineHealth {
    return this.#health;
  }

  /** The signer is not the audit log's key: the engine does not start (the caller logs why). */
  signerRefused(reason: string): void {
    this.#health = { ready: false, reason: `signer refused: ${reason}`, since: new Date().toISOString() };
  }

  /** The state could no longer be made durable (a failed fsync): not ready until a restart loads what the disk holds. */
  stateNotDurable(reason: string): void {
    this.#notDurable = true;
    this.#health = { ready: false, reason: `state not durable: ${reason}`, since: new Date().toISOString() };
    this.#logger?.error({ reason }, 'the engine state could not be made durable: nothing more leaves the engine; restart it');
  }

  // When `error` says the disk is full: the engine is not ready (said once, with why and since
  // when) and the loop backs off. False for any other error.
  storageFull(error: unknown): boolean {
    const reason = storageFullReason(error);
    if (reason === undefined) return false;
    if (this.#health.ready) {
      this.#health = { ready: false, reason: `storage full: ${reason}`, since: new Date().toISOString() };
      this.#logger?.error({ reason }, 'the disk under the engine is full: dispatch is paused and writes are retried until there is room');
    }
    return true;
  }

  // A write went through after the disk was full: it has room again.
  storageHasRoom(): void {
    if (this.#health.ready || this.#notDurable) return;
    this.#logger?.info({ since: this.#health.since }, 'the disk under the engine has room again: dispatch resumes');
    this.#health = { ready: true, since: new Date().toISOString() };
  }

  // A write that needs room and changes nothing: throws SQLITE_FULL while the disk is full.
  probeStorage(): void {
    this.#workingCopy.probeStorage();
  }
}
