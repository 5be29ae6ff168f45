import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CairnError } from '@cairn/protocol/errors';
import type { z } from 'zod';
import { quicklyCheckedClientConfig } from './quickly-checked-client-config.ts';

/**
 * The client config: named servers a user talks to, as kubectl's contexts and gh's hosts are, so
 * client commands work from any folder. It lives in `$CAIRN_CLIENT_CONFIG`, else
 * `$XDG_CONFIG_HOME/cairn/client.yaml` (`~/.config/cairn/client.yaml`), and is written 0600
 * because it may hold tokens.
 */
function buildClientConfigSchema(z: typeof import('zod').z) {
  return z.strictObject({
    current: z.string().min(1).optional(),
    contexts: z
      .record(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
        z.strictObject({
          server: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
          token: z.string().min(1).optional(),
          /** A sign-in through the identity provider (`cairn login`): where to refresh `token`, and with what. */
          login: z
            .strictObject({
              issuer: z.url({ protocol: /^https?$/ }),
              clientId: z.string().min(1),
              refreshToken: z.string().min(1).optional(),
              /** When `token` expires (ISO 8601); a command refreshes it a minute before. */
              expiresAt: z.iso.datetime().optional(),
            })
            .optional(),
        }),
      )
      .default({}),
  });
}

let builtSchema: ReturnType<typeof buildClientConfigSchema> | undefined;

/**
 * The client config's schema, built on first use: zod and the schema are loaded by a command that
 * reads or writes the file, not by every `cairn` (most find no file, or are given `--server`).
 */
export async function clientConfigSchema(): Promise<ReturnType<typeof buildClientConfigSchema>> {
  builtSchema ??= buildClientConfigSchema((await import('zod')).z);
  return builtSchema;
}

export type ClientConfig = z.output<ReturnType<typeof buildClientConfigSchema>>;
export type ClientContext = ClientConfig['contexts'][string];

/** Where the client config is read from and written to. */
export function clientConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['CAIRN_CLIENT_CONFIG']) return env['CAIRN_CLIENT_CONFIG'];
  const base = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return join(base, 'cairn', 'client.yaml');
}

/** The client config, or an empty one when the file does not exist; a broken file is bad input naming it. */
export async function readClientConfig(file = clientConfigPath()): Promise<ClientConfig> {
  if (!existsSync(file)) return { contexts: {} };
  const { parse } = await import('yaml');
  let value: unknown;
  try {
    value = parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `The client config ${file} is not valid YAML: ${(error as Error).message}. Fix it, or remove it and add contexts again with \`cairn context add\`.`,
      { path: file },
    );
  }
  // Most files are plainly right: checked so without loading zod; the schema words what is not.
  const quick = quicklyCheckedClientConfig(value ?? {});
  if (quick !== undefined) return quick;
  const parsed = (await clientConfigSchema()).safeParse(value ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map(String).join('.');
    throw new CairnError('CAIRN_CONFIG_INVALID', `The client config ${file} is invalid at ${path || 'its top level'}: ${issue.message}.`, {
      path: `${file}:${path}`,
    });
  }
  return parsed.data;
}

/** Writes the client config atomically, readable only by its owner (it may hold tokens). */
export async function writeClientConfig(config: ClientConfig, file = clientConfigPath()): Promise<void> {
  const { stringify } = await import('yaml');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, stringify(config), { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

/** The context named `name` (or the current one); a name that does not exist is bad input listing those that do. */
export function findContext(config: ClientConfig, name: string | undefined, file = clientConfigPath()): { name: string; context: ClientContext } | undefined {
  const wanted = name ?? config.current;
  if (wanted === undefined) return undefined;
  const context = config.contexts[wanted];
  if (context) return { name: wanted, context };
  const known = Object.keys(config.contexts);
  throw new CairnError(
    'CAIRN_CONFIG_INVALID',
    `There is no context "${wanted}" in ${file}${known.length > 0 ? ` (there are: ${known.join(', ')})` : ''}. Add it with \`cairn context add ${wanted} --server <url>\`.`,
    { path: name === undefined ? `${file}:current` : '--context' },
  );
}
