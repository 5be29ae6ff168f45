import { pathToFileURL } from 'node:url';
import { runGit, type GitLocation, type GitRunOptions, type GitRunResult } from '@cairn/protocol/workspace';

/** What git needs to reach one remote: its URL, and the credential it may be given. */
export interface GitRemoteAccess {
  readonly remote: string;
  readonly username: string;
  readonly token?: string | undefined;
  readonly stallSeconds: number;
}

/**
 * A credential helper that answers only for the remote's own scheme and host (with port): a
 * redirect to another host gets nothing. The secret reaches it through git's environment (readable
 * by this user only), never through a command line or the URL, so it cannot appear in `ps`, in
 * git's messages or in ours. git appends the action (`get`, `store`, `erase`) as `$1`.
 */
const credentialHelper = [
  '!f() {',
  'test "$1" = get || exit 0;',
  'while IFS= read -r line && test -n "$line"; do case "$line" in protocol=*) p="${line#protocol=}";; host=*) h="${line#host=}";; esac; done;',
  'test "$p" = "$CAIRN_FORGE_PROTOCOL" && test "$h" = "$CAIRN_FORGE_HOST" &&',
  'printf "username=%s\\npassword=%s\\n" "$CAIRN_FORGE_USERNAME" "$CAIRN_FORGE_TOKEN";',
  'exit 0; }; f',
].join(' ');

/**
 * Runs git against one remote with `runGit`'s hardening (cleared environment, no global config, no
 * hooks) plus what talking to a remote needs: only the remote's own protocol allowed (no `ext::`,
 * no protocol switch through a redirect), the credential helper above and nothing else, and a stall
 * limit (git has no overall timeout; a transfer under 1 KiB/s for `stallSeconds` is abandoned).
 */
export class GitRemote {
  /** The URL git is given: the remote URL, or `file://` for a local path. */
  readonly url: string;
  /** How messages name the remote: as configured (never with credentials: settings refuse them). */
  readonly name: string;
  readonly #options: readonly string[];
  readonly #env: Readonly<Record<string, string>>;

  constructor(access: GitRemoteAccess) {
    this.name = access.remote;
    const local = !/^https?:\/\//.test(access.remote);
    this.url = local ? pathToFileURL(access.remote).href : access.remote;
    const url = new URL(this.url);
    const scheme = url.protocol.slice(0, -1);
    const settings = [
      'protocol.allow=never',
      `protocol.${scheme}.allow=always`,
      'credential.helper=',
      'http.lowSpeedLimit=1024',
      `http.lowSpeedTime=${access.stallSeconds}`,
    ];
    const env: Record<string, string> = {};
    if (access.token !== undefined) {
      settings.push(`credential.helper=${credentialHelper}`);
      Object.assign(env, { CAIRN_FORGE_PROTOCOL: scheme, CAIRN_FORGE_HOST: url.host, CAIRN_FORGE_USERNAME: access.username, CAIRN_FORGE_TOKEN: access.token });
    }
    this.#options = settings.flatMap((setting) => ['-c', setting]);
    this.#env = env;
  }

  /** Runs `git <args>` with the remote's settings; `env` adds to the credential variables. */
  run(location: GitLocation, args: readonly string[], options: GitRunOptions = {}): Promise<GitRunResult> {
    return runGit(location, [...this.#options, ...args], { ...options, env: { ...this.#env, ...options.env } });
  }
}
