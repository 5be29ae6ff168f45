import { readFileSync } from 'node:fs';
import { CairnError } from '@cairn/protocol/errors';
import { clientConfigSchema, findContext, readClientConfig, writeClientConfig, type ClientConfig } from './client-contexts.ts';
import { json, program, say, sayList } from './cli-program.ts';

/**
 * `cairn context add|use|list|rm`: the servers this user talks to, by name (kubectl's contexts),
 * so `cairn status`, `submit`, `watch`, ... work from any folder.
 */
export function addContextCommands(): void {
  const context = program
    .command('context')
    .description('named servers for client commands (kept 0600 in ~/.config/cairn/client.yaml, or $CAIRN_CLIENT_CONFIG)');
  context
    .command('add')
    .argument('<name>', 'a name for the server (letters, digits, . _ -)')
    .requiredOption('--server <url>', 'its URL, e.g. https://cairn.example.com')
    .option('--token-stdin', 'read its bearer token from standard input (never from the command line)')
    .option('--use', 'make it the current context')
    .description('add (or replace) a context; the first one added becomes current')
    .action(async (name: string, options: { server: string; tokenStdin?: boolean; use?: boolean }) => {
      const config = await readClientConfig();
      const token = options.tokenStdin ? readFileSync(0, 'utf8').trim() : undefined;
      if (options.tokenStdin && !token)
        throw new CairnError(
          'CAIRN_PAYLOAD_INVALID',
          'No token on standard input: pipe it in, e.g. `cairn context add prod --server <url> --token-stdin < token.txt`.',
          { path: '--token-stdin' },
        );
      const next = { ...config, contexts: { ...config.contexts, [name]: { server: options.server, ...(token ? { token } : {}) } } };
      if (options.use || config.current === undefined) next.current = name;
      await writeClientConfig(await parsedConfig(next));
      say(
        json()
          ? JSON.stringify({ name, server: options.server, current: next.current === name })
          : `context ${name}: ${options.server}${next.current === name ? ' (current)' : ''}`,
      );
    });
  context
    .command('use')
    .argument('<name>', 'the context')
    .description('make a context the current one')
    .action(async (name: string) => {
      const config = await readClientConfig();
      findContext(config, name);
      await writeClientConfig({ ...config, current: name });
      say(json() ? JSON.stringify({ current: name }) : `current context: ${name}`);
    });
  context
    .command('list')
    .description('contexts (tokens are never printed)')
    .action(async () => {
      const config = await readClientConfig();
      const rows = Object.entries(config.contexts).map(([name, entry]) => ({
        name,
        server: entry.server,
        token: entry.token !== undefined,
        current: config.current === name,
      }));
      sayList(rows, (row) => `${row.current ? '*' : ' '} ${row.name.padEnd(16)} ${row.server}${row.token ? '  (token)' : ''}`);
    });
  context
    .command('rm')
    .argument('<name>', 'the context')
    .description('remove a context (and its token)')
    .action(async (name: string) => {
      const config = await readClientConfig();
      findContext(config, name);
      const { [name]: _removed, ...contexts } = config.contexts;
      const { current, ...rest } = config;
      await writeClientConfig({ ...rest, contexts, ...(current === name ? {} : current === undefined ? {} : { current }) });
      say(json() ? JSON.stringify({ removed: name }) : `context ${name} removed`);
    });
}

/** The config as the schema reads it, so a bad name or URL is refused before anything is written. */
async function parsedConfig(config: ClientConfig): Promise<ClientConfig> {
  const parsed = (await clientConfigSchema()).safeParse(config);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const option = issue.path.at(-1) === 'server' ? '--server' : '<name>';
  throw new CairnError('CAIRN_PAYLOAD_INVALID', `Invalid ${option}: ${issue.message}.`, { path: option });
}
