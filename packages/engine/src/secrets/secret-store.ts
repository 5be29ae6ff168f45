import type { AuditActor, CipherV1 } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { SecretTable } from '../store/sqlite/secret-table.ts';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';
import { dispatchRefusal, type DispatchRefusal } from '../dispatch-refusal.ts';
import { openSealedSecret, secretContext } from './open-sealed-secret.ts';
import { revealServerSecret } from './reveal-server-secret.ts';

/** The values of the secrets a dispatch names, and the version of each (audited; values never are). */
export interface RevealedSecrets {
  readonly values: Record<string, string>;
  readonly versions: Record<string, number>;
}

/** A secret as listed: its name and version, never its value. */
export interface SecretRecord {
  readonly name: string;
  /** Counts the times the secret was set, from 1: the audit log records which version a task got. */
  readonly version: number;
  readonly updatedAt: string;
  readonly updatedBy: string;
}

/** Names a secret may have: an environment variable name, since that is how a task receives it. */
const secretName = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Secrets are small (tokens, keys); anything bigger is a mistake. */
const maxSecretBytes = 64 * 1024;

/**
 * Secrets in the working copy, each value encrypted through `CipherV1` and bound to its name
 * and version (the cipher's context), so a value copied to another name or rolled back to an old
 * row does not decrypt. Values leave only through `reveal`, at dispatch, and `revealForServer`, for
 * the host's own use; every change is audited by name and version.
 */
export class SecretStore {
  readonly #workingCopy: WorkingCopy;
  readonly #secrets: SecretTable;
  readonly #audit: AuditLog;
  readonly #cipher: CipherV1;
  readonly #now: () => number;

  constructor(settings: { readonly workingCopy: WorkingCopy; readonly audit: AuditLog; readonly cipher: CipherV1; readonly now?: () => number }) {
    this.#workingCopy = settings.workingCopy;
    this.#secrets = settings.workingCopy.secrets;
    this.#audit = settings.audit;
    this.#cipher = settings.cipher;
    this.#now = settings.now ?? Date.now;
  }

  /** Sets (or replaces) a secret; returns its new version. The value is encrypted before it is stored. */
  async set(name: string, value: string, actor: AuditActor): Promise<SecretRecord> {
    if (!secretName.test(name)) {
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        `The secret name ${JSON.stringify(name)} is not valid: use an environment variable name (letters, digits and _, not starting with a digit).`,
        {
          path: 'name',
        },
      );
    }
    const bytes = new TextEncoder().encode(value);
    if (bytes.length === 0 || bytes.length > maxSecretBytes) {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `The value of secret ${name} must be 1 to ${maxSecretBytes} bytes; it is ${bytes.length}.`, {
        path: 'value',
      });
    }
    // The version is chosen before the await and checked again after it: two concurrent sets of
    // one name must not both become the same version.
    const version = this.#secrets.versionOf(name) + 1;
    const envelope = await this.#cipher.encrypt(bytes, secretContext(name, version));
    const updatedAt = new Date(this.#now()).toISOString();
    this.#workingCopy.transaction(() => {
      const current = this.#secrets.versionOf(name);
      if (current !== version - 1)
        throw new CairnError('CAIRN_IDEMPOTENCY_CONFLICT', `Secret ${name} was set by someone else at the same time; set it again.`, { details: { name } });
      this.#secrets.put(name, version, envelope, updatedAt, actor.id);
      this.#audit.append({ actor, action: 'secret.set', entity: { kind: 'secret', id: name }, outcome: 'success', data: { name, version } });
    })();
    return { name, version, updatedAt, updatedBy: actor.id };
  }

  /** Removes a secret; CAIRN_NOT_FOUND when there is none by that name. */
  remove(name: string, actor: AuditActor): void {
    this.#workingCopy.transaction(() => {
      if (!this.#secrets.remove(name)) throw new CairnError('CAIRN_NOT_FOUND', `There is no secret named ${name}.`, { details: { name } });
      this.#audit.append({ actor, action: 'secret.removed', entity: { kind: 'secret', id: name }, outcome: 'success', data: { name } });
    })();
  }

  /** Names and versions of every secret (never values). */
  list(): SecretRecord[] {
    return this.#secrets.list();
  }

  /** The names of every secret, for validating run specs at submit. */
  names(): string[] {
    return this.list().map((secret) => secret.name);
  }

  /**
   * Decrypts the named secrets for a dispatch. A refusal (naming the secret) instead when one no
   * longer exists or does not decrypt — the item then fails with it, and nothing is revealed.
   */
  async reveal(names: readonly string[]): Promise<RevealedSecrets | DispatchRefusal> {
    const unavailable = (reason: string) => dispatchRefusal('CAIRN_SECRET_UNAVAILABLE', reason);
    const values: Record<string, string> = {};
    const versions: Record<string, number> = {};
    for (const name of names) {
      const sealed = this.#secrets.sealed(name);
      if (!sealed) return unavailable(`secret ${name} does not exist (it was removed after the run was submitted); set it with \`cairn secret set ${name}\``);
      const opened = await openSealedSecret(this.#cipher, name, sealed);
      if ('unopened' in opened) return unavailable(`secret ${name} ${opened.unopened}`);
      values[name] = opened.value;
      versions[name] = sealed.version;
    }
    return { values, versions };
  }

  /**
   * A secret's value for the host's own use (see `revealServerSecret`): CAIRN_SECRET_UNAVAILABLE
   * naming it, and `purpose` as who asked, when it is not set or does not decrypt.
   */
  revealForServer(name: string, purpose?: string): Promise<string> {
    return revealServerSecret(this.#cipher, name, this.#secrets.sealed(name), purpose);
  }
}
