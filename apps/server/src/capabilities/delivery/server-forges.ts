import type { ForgeV1 } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import { buildSeam, seamFactories, type ForgeContext } from '../../composition/seam-factories.ts';
import { readConfiguredSecret } from '../../config/configured-secret.ts';
import type { ForgeConfig, ForgesConfig } from './forges-config-schema.ts';
import { protectedPathsOf, type ProtectedPaths } from './protected-paths.ts';

/** Reads a server secret's value (the engine's secret store), naming the option that named it when it cannot. */
export type ServerSecretReader = (name: string) => Promise<string>;

/** Where git reaches a forge's repository, and the credential it may send there (never in the URL). */
export interface RepositoryGitAccess {
  /** An https:// URL (http:// on loopback) or an absolute path on this machine. */
  readonly repository: string;
  readonly credential: { readonly username: string; readonly token: string } | undefined;
}

/** Stand-ins for secrets: the settings are checked at start, before the secrets can be read. */
const standIn = (option: string) => (option.endsWith('privateKeySecret') ? '-----BEGIN PRIVATE KEY-----' : 'cairn-config-check');

/**
 * The forges of the server config (`forges:`), by name, built by the seam factories' `forge`
 * entry of their kind. Each is checked when the server starts (built with stand-ins for its
 * secrets, through its package's own settings schema, errors naming `config.forges.NAME.<option>`),
 * and built when a delivery first uses it, with its token read from the server secret then: a
 * secret set after the start is used without a restart. `@cairn/git-forge` and
 * `@cairn/github-forge` are imported only when a forge of their kind is configured.
 */
export class ServerForges {
  readonly #config: ForgesConfig;
  readonly #secret: ServerSecretReader;
  readonly #built = new Map<string, Promise<ForgeV1>>();

  private constructor(config: ForgesConfig, secret: ServerSecretReader) {
    this.#config = config;
    this.#secret = secret;
  }

  /** Checks every configured forge's settings; throws CAIRN_CONFIG_INVALID naming the first bad option. */
  static async load(config: ForgesConfig, secret: ServerSecretReader): Promise<ServerForges> {
    for (const [name, forge] of Object.entries(config)) await buildForge(name, forge, async (_secret, option) => standIn(option));
    return new ServerForges(config, secret);
  }

  /** The names deliver items may give as `runtime.forge`. */
  get names(): string[] {
    return Object.keys(this.#config);
  }

  /** The protected paths of the forge `name` (`forges.NAME.protectedPaths`, else the defaults, flagged). */
  protectedPaths(name: string): ProtectedPaths {
    return protectedPathsOf(Object.hasOwn(this.#config, name) ? this.#config[name]?.protectedPaths : undefined);
  }

  /** The forge named `name`, built on first use; CAIRN_NOT_FOUND for a name the config does not have. */
  forge(name: string): Promise<ForgeV1> {
    return this.#forge(name);
  }

  /**
   * Where git fetches the repository of the forge `name` from, and with which credential: a git
   * forge's remote with its username and token (its secret read now, so a secret set or changed
   * since is used), a GitHub forge's repository with its personal token or an installation token
   * of its app (minted as for its pushes, by the forge delivering uses). CAIRN_NOT_FOUND for a
   * name the config does not have; CAIRN_SECRET_UNAVAILABLE naming the option of a secret not set.
   */
  async gitAccess(name: string): Promise<RepositoryGitAccess> {
    const config = Object.hasOwn(this.#config, name) ? this.#config[name] : undefined;
    if (config?.kind === 'git') {
      const { remote, username, tokenSecret } = config;
      const credential =
        tokenSecret === undefined
          ? undefined
          : { username: username ?? 'x-access-token', token: await this.#readSecret(tokenSecret, `config.forges.${name}.tokenSecret`) };
      return { repository: remote, credential };
    }
    // Not a git forge: one that hands git its access itself (a GitHub one), or no forge, which #forge refuses.
    const forge = await this.#forge(name);
    if (!forge.capabilities.gitAccess || forge.gitAccess === undefined)
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `The forge ${name} (${forge.provider}) cannot hand git its repository: fetch the workspace from another forge.`,
        {
          path: `config.forges.${name}`,
        },
      );
    const { remote, username, token } = await forge.gitAccess();
    return { repository: remote, credential: { username, token } };
  }

  #forge(name: string): Promise<ForgeV1> {
    const config = Object.hasOwn(this.#config, name) ? this.#config[name] : undefined;
    if (config === undefined)
      return Promise.reject(
        new CairnError('CAIRN_NOT_FOUND', `No forge named ${JSON.stringify(name)} is configured (forges: has ${this.names.join(', ') || 'none'}).`, {
          path: 'runtime.forge',
        }),
      );
    let built = this.#built.get(name);
    if (built === undefined) {
      built = buildForge(name, config, (secret, option) => this.#readSecret(secret, option));
      // A forge whose secret could not be read is built again next time (the secret may be set by then).
      built.catch(() => this.#built.delete(name));
      this.#built.set(name, built);
    }
    return built;
  }

  #readSecret(name: string, option: string): Promise<string> {
    return readConfiguredSecret(this.#secret, name, option);
  }
}

/** The forge `config` describes, by the seam factory of its kind, its secrets read through `secret`. */
function buildForge(name: string, config: ForgeConfig, secret: ForgeContext['secret']): Promise<ForgeV1> {
  // protectedPaths is the delivery's option, not the forge package's: its settings schema would refuse it.
  const { protectedPaths: _protectedPaths, ...forge } = config;
  return buildSeam(seamFactories.forge, forge, { where: `config.forges.${name}`, secret });
}
