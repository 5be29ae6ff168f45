import type { CipherEnvelope } from '@cairn/core';
import type { SecretRecord } from '../../secrets/secret-store.ts';
import type { SealedSecret } from '../../records/sealed-secret.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';

/** The secrets, a row each: name, version, the sealed value, and who set it when. */
export class SecretTable {
  readonly #sealed;
  readonly #put;
  readonly #remove;
  readonly #list;

  constructor(database: EngineDatabase) {
    this.#sealed = database.prepare<[string], SealedSecret>('SELECT version, envelope FROM secrets WHERE name = ?');
    this.#put = database.prepare<[string, number, string, string, string]>(
      `INSERT INTO secrets (name, version, envelope, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, envelope = excluded.envelope, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    );
    this.#remove = database.prepare<[string]>('DELETE FROM secrets WHERE name = ?');
    this.#list = database.prepare<[], SecretRecord>('SELECT name, version, updated_at AS updatedAt, updated_by AS updatedBy FROM secrets ORDER BY name');
  }

  /** The secret named `name`, sealed; undefined when there is none. */
  sealed(name: string): SealedSecret | undefined {
    return this.#sealed.get(name);
  }

  /** The version of the secret named `name`; 0 when there is none. */
  versionOf(name: string): number {
    return this.#sealed.get(name)?.version ?? 0;
  }

  /** Stores the secret `name` at `version`, replacing what it held. */
  put(name: string, version: number, envelope: CipherEnvelope, updatedAt: string, updatedBy: string): void {
    this.#put.run(name, version, JSON.stringify(envelope), updatedAt, updatedBy);
  }

  /** Removes the secret named `name`; false when there was none. */
  remove(name: string): boolean {
    return this.#remove.run(name).changes > 0;
  }

  /** Every secret's name and version, by name (never values). */
  list(): SecretRecord[] {
    return this.#list.all();
  }
}
