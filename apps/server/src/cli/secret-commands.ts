import { CairnError, isCairnError } from '@cairn/protocol/errors';
import { addRemoveCommand, clientOf, configOption, json, program, say, sayList, targetsServerConfig } from './cli-program.ts';
import { loadServerConfigLazily } from './lazy-server-config.ts';

/**
 * `cairn secret set|list|rm`: secrets of a server; values come from standard input, never argv.
 * `set` in the server's folder works while the server does not run (SQLite state); the others,
 * and `set` elsewhere, go through a running server.
 */
export function addSecretCommands(): void {
  const secret = program.command('secret').description('secrets of a server (values are write-only)');
  secret
    .command('set')
    .argument('<name>', 'an environment variable name (what the task receives)')
    .option('--server <url>', 'the server')
    .description(
      "set a secret; the value is read from standard input, never from the command line. In the server's folder it works before the server runs (SQLite state)",
    )
    .action(async (name: string, options: { server?: string }) => {
      if (process.stdin.isTTY) process.stderr.write(`value of ${name} (then Enter and Ctrl-D): `);
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      const value = Buffer.concat(chunks)
        .toString('utf8')
        .replace(/\r?\n$/, '');
      // In the server's folder while it does not run (cairn doctor names missing secrets before the
      // first start), it is set there directly, as `cairn token create` works; otherwise, or when
      // the server runs, through the server.
      const { setSecretInServerFolder } = await import('./set-secret-in-server-folder.ts');
      const loaded = (await targetsServerConfig(options.server)) ? await loadServerConfigLazily(configOption()) : undefined;
      const direct = loaded ? await setSecretInServerFolder(loaded, name, value) : undefined;
      const set =
        direct ??
        (await (await clientOf(options.server)).setSecret(name, value).catch((error: unknown) => {
          // PostgreSQL replicas store a secret only through the one running the engine.
          if (loaded?.config.engine.state.kind === 'postgres' && isCairnError(error, 'CAIRN_SERVER_UNREACHABLE'))
            throw new CairnError(
              'CAIRN_SERVER_UNREACHABLE',
              `${error.message} With PostgreSQL state a secret is set through a running replica: start one first (cairn serve), then run cairn secret set ${name} again here, with a token (CAIRN_TOKEN).`,
              { path: 'baseUrl', cause: error },
            );
          throw error;
        }));
      say(
        json()
          ? JSON.stringify(set)
          : `secret ${set.name} set (version ${set.version})${direct ? " directly in the server's folder (no server was running)" : ''}`,
      );
    });
  secret
    .command('list')
    .description('secret names, versions and who set them (never values)')
    .option('--server <url>', 'the server')
    .action(async (options: { server?: string }) => {
      const secrets = await (await clientOf(options.server)).secrets();
      sayList(secrets, (item) => `${item.name.padEnd(24)} version ${item.version}  set ${item.updatedAt} by ${item.updatedBy}`);
    });
  addRemoveCommand(secret, 'secret', ['<name>', 'the secret name'], 'remove a secret (runs that name it fail at dispatch)', (cairn, id) =>
    cairn.removeSecret(id),
  );
}
